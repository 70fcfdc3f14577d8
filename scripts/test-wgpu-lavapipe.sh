#!/usr/bin/env bash
# The core's reference tests on Burn's wgpu backend, without a GPU: Mesa's lavapipe (Vulkan on
# the CPU) runs the WGSL kernels. Not part of CI: the wgpu build costs about 19 more minutes on
# two cores. Measured here: 7/7 reference tests pass, both log-det routes, in 170 s.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! ls /usr/share/vulkan/icd.d/lvp_icd.*.json >/dev/null 2>&1; then
    echo "error: needs Mesa's lavapipe: sudo apt-get install -y mesa-vulkan-drivers libvulkan1" >&2
    exit 1
fi
CUBECL_WGPU_DEFAULT_DEVICE=Cpu SSR2_TEST_DEVICE=wgpu CARGO_TARGET_DIR=target-wgpu \
    cargo test --release -p ssr2-core --features wgpu --test reference
