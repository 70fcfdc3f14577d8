#!/usr/bin/env bash
# The core's reference tests on Burn's wgpu backend, without a GPU: Mesa's lavapipe (Vulkan on
# the CPU) runs the WGSL kernels, the batched Cholesky and exact Gram kernels of
# LogdetRoute::Kernel among them, next to the host and tensor routes. Every check has a stated
# tolerance and a failure exits non-zero. Part of scripts/test.sh (SKIP_LAVAPIPE=1 skips it),
# which builds the test binaries first: the same features here, so nothing is built twice.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! ls /usr/share/vulkan/icd.d/lvp_icd.*.json >/dev/null 2>&1; then
    echo "error: needs Mesa's lavapipe: apt-get install -y mesa-vulkan-drivers libvulkan1 (scripts/setup.sh)" >&2
    exit 1
fi
source scripts/native-build.env
export CUBECL_WGPU_DEFAULT_DEVICE=Cpu SSR2_TEST_DEVICE=wgpu
native_cargo test --test reference
# Data parallelism: two copies of the model on the one adapter give the one-device step.
native_cargo test --test replicas step_on_two_copies
