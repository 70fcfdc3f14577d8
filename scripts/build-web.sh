#!/usr/bin/env bash
# Build the browser app (web/) into dist/ with Trunk, fully offline, with the toolchain of
# TOOLCHAIN.md: Debian's rustc-web/cargo-web (wasm32 std built from rust-web-src), wasm-bindgen
# 0.2.130 and Trunk 0.22.1 from `cargo install`, wasm-opt from npm binaryen@132 (web/node_modules).
# INSTALL=1 installs the missing tools first (scripts/web-tools.sh; scripts/test.sh runs it).
# Default: no LTO, 16 codegen units, then wasm-opt -Oz, into dist/.
# --release: the build to publish (fat LTO, opt-level "z", one codegen unit) into dist-release/,
# with its own target dir.
# --ci: what scripts/test.sh tests, into dist/: web/Cargo.toml's [profile.ci] (opt-level 1 but
# for the CPU device's compute crates) and no wasm-opt, which runs single-threaded in node for
# about 9 minutes (docs/CI.md); the same sources, so the same page.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

if [ "${INSTALL:-0}" = "1" ]; then scripts/web-tools.sh; fi
for tool in trunk wasm-bindgen; do
    PATH=${CARGO_HOME:-$HOME/.cargo}/bin:$PATH command -v "$tool" >/dev/null || {
        echo "error: $tool not found; run INSTALL=1 scripts/build-web.sh (see docs/WEB.md)" >&2
        exit 1
    }
done
[ "${1:-}" = "--ci" ] || [ -x web/node_modules/.bin/wasm-opt ] || {
    echo "error: web/node_modules/.bin/wasm-opt missing; run (cd web && npm ci)" >&2
    exit 1
}
[ -x /usr/bin/cargo ] && [ -d /usr/lib/rustlib/src/rust/library ] || {
    echo "error: needs Debian's rustc-web cargo-web rust-web-src lld-22 (apt-get install -y ...)" >&2
    exit 1
}

# npm's wasm-opt first (never Debian's binaryen 108), then Debian's cargo/rustc, then trunk and
# wasm-bindgen from ~/.cargo/bin. RUSTC_BOOTSTRAP must stay set for every build of target-web/.
export PATH="$root/web/node_modules/.bin:/usr/bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
export RUSTC_BOOTSTRAP=1
export CARGO_UNSTABLE_BUILD_STD=std,panic_abort
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=/usr/bin/wasm-ld-22
export CARGO_TARGET_DIR="${WEB_TARGET_DIR:-$root/target-web}"
dist=dist
mode=(--release)
if [ "${1:-}" = "--ci" ]; then
    shift
    # Trunk runs wasm-opt only in its release mode; the cargo profile is chosen apart from it.
    mode=(--release false --cargo-profile ci)
elif [ "${1:-}" = "--release" ]; then
    shift
    export CARGO_PROFILE_RELEASE_OPT_LEVEL=z CARGO_PROFILE_RELEASE_LTO=fat
    export CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1
    export CARGO_TARGET_DIR="$root/target-web-release"
    dist=dist-release
fi
trunk build "${mode[@]}" --dist "$dist" "$@"
ls -l "$dist"/*.wasm
for f in "$dist"/*.wasm; do
    echo "$f: $(stat -c %s "$f") bytes, gzip -9 $(gzip -9c "$f" | wc -c) bytes"
done
