#!/usr/bin/env bash
# The whole test suite, set-up included: missing Debian packages first (scripts/setup.sh), then
# native tests on the CPU device (with the property/fuzz tests), a compile check of the CUDA
# build, the core's reference tests on wgpu over Mesa's lavapipe (SKIP_LAVAPIPE=1 skips them),
# then a wasm32 build check of ssr2-core. The CUDA check needs Debian's llvm-22-dev (scripts/cuda-llvm.sh;
# SKIP_CUDA=1 skips it); the wasm check rustc-web, cargo-web, rust-web-src and lld-22 (see README);
# SKIP_WASM=1 skips that step (and the browser app); SKIP_WEB=1 skips only the browser app
# (scripts/test-web.sh: builds web/, trains one seed, runs the Playwright test in chromium).
set -euo pipefail
cd "$(dirname "$0")/.."

# Whatever the selected steps need and this machine lacks (Debian packages; cargo and npm tools
# are installed by the steps themselves).
scripts/setup.sh

echo "== native tests (CPU device: flex) =="
cargo test --release --workspace

if [ "${SKIP_CUDA:-0}" = "1" ]; then
    echo "== CUDA build check skipped (SKIP_CUDA=1) =="
else
    # No GPU here: this only proves that the code behind the cuda features compiles (2.5 min cold).
    echo "== the CUDA build compiles (cargo check --features cuda-nvrtc) =="
    scripts/cuda-llvm.sh
    CUDARC_CUDA_VERSION=13000 CARGO_TARGET_DIR=target-cuda-check \
        cargo check --release -p ssr2 --features cuda-nvrtc
fi

if [ "${SKIP_LAVAPIPE:-0}" = "1" ]; then
    echo "== GPU kernels on lavapipe skipped (SKIP_LAVAPIPE=1) =="
else
    # The wgpu build's WGSL kernels (the batched Cholesky among them) on Mesa's lavapipe, Vulkan
    # on the CPU: the core's reference tests with every log-det route.
    echo "== ssr2-core reference tests on wgpu over lavapipe =="
    scripts/test-wgpu-lavapipe.sh
fi

if [ "${SKIP_WASM:-0}" = "1" ]; then
    echo "== wasm32 check and browser app skipped (SKIP_WASM=1) =="
    exit 0
fi
echo "== ssr2-core and ssr2-data compile for wasm32-unknown-unknown (cargo check) =="
if [ ! -x /usr/bin/cargo ] || [ ! -d /usr/lib/rustlib/src/rust/library ]; then
    echo "error: the wasm check needs Debian's rustc-web cargo-web rust-web-src lld-22" >&2
    echo "       (sudo apt-get install -y rustc-web cargo-web rust-web-src lld-22), or SKIP_WASM=1" >&2
    exit 1
fi
# Debian's toolchain builds std for wasm32 itself (-Zbuild-std, allowed by RUSTC_BOOTSTRAP);
# its own target dir keeps it apart from the native build.
(cd crates/ssr2-core &&
    PATH=/usr/bin:$PATH RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=../../target-wasm \
    CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=/usr/bin/wasm-ld-22 \
    cargo check --release -Zbuild-std=std,panic_abort --target wasm32-unknown-unknown \
        -p ssr2-core -p ssr2-data --no-default-features --features ssr2-core/flex)
if [ "${SKIP_WEB:-0}" = "1" ]; then
    echo "== browser app skipped (SKIP_WEB=1) =="
else
    echo "== browser app: build, then end-to-end test in headless chromium (WebGPU and CPU) =="
    scripts/test-web.sh
fi
echo "== all tests passed =="
