#!/usr/bin/env bash
# ssr2-core and ssr2-data compile for wasm32-unknown-unknown with the CPU device only (cargo
# check), with Debian's rustc-web/cargo-web, which build std for wasm32 themselves (-Zbuild-std,
# allowed by RUSTC_BOOTSTRAP); its own target dir keeps that toolchain apart from the native one.
# Part of scripts/test.sh (SKIP_WASM=1 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/cargo ] || [ ! -d /usr/lib/rustlib/src/rust/library ]; then
    echo "error: the wasm check needs Debian's rustc-web cargo-web rust-web-src lld-22" >&2
    echo "       (sudo apt-get install -y rustc-web cargo-web rust-web-src lld-22), or SKIP_WASM=1" >&2
    exit 1
fi
root=$PWD
cd crates/ssr2-core
PATH=/usr/bin:$PATH RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$root/target-wasm" \
    CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=/usr/bin/wasm-ld-22 \
    cargo check --release -Zbuild-std=std,panic_abort --target wasm32-unknown-unknown \
    -p ssr2-core -p ssr2-data --no-default-features --features ssr2-core/flex
