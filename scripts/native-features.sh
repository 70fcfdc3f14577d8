#!/usr/bin/env bash
# The features of the one native test build (scripts/test.sh, test-wgpu-lavapipe.sh,
# test-web.sh): the CPU device by default, plus wgpu, so that the wgpu checks on lavapipe run from
# the same build instead of a second one. Keep every caller on this list: another feature set in
# target/ builds Burn again.
echo "ssr2/wgpu"
