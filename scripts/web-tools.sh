#!/usr/bin/env bash
# The browser app's build tools, each installed only when missing at its pinned version:
# wasm-bindgen-cli 0.2.130 (it must equal web/Cargo.lock's wasm-bindgen) and Trunk 0.22.1 into
# ~/.cargo/bin, built from crates.io (no registry reachable from here ships them prebuilt: npm and
# PyPI have no package of either); wasm-opt (binaryen 132) and playwright-core into
# web/node_modules (npm ci). Part of scripts/test.sh's web lane; `INSTALL=1 scripts/build-web.sh`
# runs it too.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${CARGO_HOME:-$HOME/.cargo}/bin
has() { [ -x "$bin/$1" ] && "$bin/$1" --version 2>/dev/null | grep -qF "$2"; }

if ! has wasm-bindgen "wasm-bindgen 0.2.130" || ! has trunk "trunk 0.22.1"; then
    # Cheap profile: the tools run for seconds per build, so no LTO and four codegen units (on
    # two cores, 16 repeat work for no speed; docs/CI.md), in one target dir.
    export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=4
    export CARGO_PROFILE_RELEASE_DEBUG=false
    export CARGO_TARGET_DIR=$PWD/target-tools
    # Not --locked: a dependency pinned in wasm-bindgen-cli's lock file is missing from the
    # registry mirror (TOOLCHAIN.md). Opt-level 1: it rewrites a 30 MB wasm file per build.
    has wasm-bindgen "wasm-bindgen 0.2.130" ||
        CARGO_PROFILE_RELEASE_OPT_LEVEL=1 cargo install wasm-bindgen-cli --version 0.2.130
    # Trunk declares Rust 1.96.1 and builds with 1.95. Opt-level 0: it only copies, hashes and
    # runs the other tools, and it is the biggest of the tools to compile (two JS minifiers).
    has trunk "trunk 0.22.1" ||
        CARGO_PROFILE_RELEASE_OPT_LEVEL=0 cargo install trunk --version 0.22.1 --ignore-rust-version
fi
(cd web && npm ci --no-audit --no-fund)
