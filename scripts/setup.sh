#!/usr/bin/env bash
# Installs the Debian packages the test suite needs when they are missing (scripts/test.sh calls
# it, so the README's test command is the whole set-up). Steps skipped with SKIP_WASM=1,
# SKIP_CUDA=1, SKIP_LAVAPIPE=1 or SKIP_WEB=1 need nothing installed; the native tests need dataset-fashion-mnist. Uses sudo unless run as root.
set -euo pipefail
need=()
want() { dpkg -s "$1" >/dev/null 2>&1 || need+=("$1"); }
# Debian's wasm toolchain (rustup has no wasm32 target here): rustc-web/cargo-web build std for
# wasm32 from rust-web-src; lld-22 links.
if [ "${SKIP_WASM:-0}" != "1" ]; then
    for pkg in rustc-web cargo-web rust-web-src lld-22; do want "$pkg"; done
    # The browser test: Debian's chromium (never a downloaded browser), node + npm for
    # playwright-core and binaryen, curl to wait for the test server.
    if [ "${SKIP_WEB:-0}" != "1" ]; then
        want chromium
        command -v npm >/dev/null || need+=(nodejs npm)
        command -v curl >/dev/null || need+=(curl)
    fi
fi
# The native tests train briefly on Fashion-MNIST (60k + 10k IDX files, MIT).
want dataset-fashion-mnist
# The wgpu kernels' tests run on Mesa's lavapipe (Vulkan on the CPU).
if [ "${SKIP_LAVAPIPE:-0}" != "1" ]; then
    want mesa-vulkan-drivers
    want libvulkan1
fi
# The CUDA build links LLVM (scripts/cuda-llvm.sh stands Debian's LLVM 22 in for a download).
[ "${SKIP_CUDA:-0}" = "1" ] || want llvm-22-dev
[ ${#need[@]} -eq 0 ] && exit 0
echo "== installing ${need[*]} (apt) =="
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${need[@]}"
