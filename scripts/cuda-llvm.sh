#!/usr/bin/env bash
# Lets `cargo build --features cuda` (or `cuda-nvrtc`) work offline. Burn 0.22's CUDA backend
# (cubecl-cuda) always links LLVM, through tracel-llvm-bundler, whose build script downloads an
# LLVM 23.1 bundle from GitHub unless the bundle directory already holds its install marker.
# This script fills that directory with a stand-in made of Debian's LLVM 22 (apt: llvm-22-dev,
# which has the static libraries): an `llvm-config` wrapper and a lib dir of links. With feature
# `cuda` the kernels are compiled to PTX by this LLVM at run time (LLVM 22 emits PTX up to 9.0,
# what a CUDA 13.0 driver takes); with `cuda-nvrtc` by NVRTC, and LLVM is linked but unused.
# Usage: bash scripts/cuda-llvm.sh
#        CUDARC_CUDA_VERSION=13000 CARGO_TARGET_DIR=target-cuda cargo build --release -p ssr2 --features cuda-nvrtc
# To go back to the real bundle (with internet): rm -r ~/.local/share/tracel/tracel-llvm-23.1.0-4
set -eu
LLVM=${LLVM:-/usr/lib/llvm-22}
[ -x "$LLVM/bin/llvm-config" ] || { echo "no $LLVM/bin/llvm-config: apt-get install llvm-22-dev" >&2; exit 1; }
BUNDLE=${XDG_DATA_HOME:-$HOME/.local/share}/tracel/tracel-llvm-23.1.0-4
if [ -e "$BUNDLE/.tracel-llvm-installed" ] && ! grep -qs 'scripts/cuda-llvm.sh' "$BUNDLE/bin/llvm-config"; then
    echo "the real LLVM bundle is installed in $BUNDLE: nothing to do"
    exit 0
fi
mkdir -p "$BUNDLE/bin" "$BUNDLE/lib"
ln -sfn "$LLVM/include" "$BUNDLE/include"
for a in "$LLVM"/lib/*.a; do ln -sf "$a" "$BUNDLE/lib/"; done
# Only the shared zstd/zlib exist without their -dev packages; link them by full soname.
for l in zstd z; do
    so=$(ls /usr/lib/x86_64-linux-gnu/lib$l.so.1 2>/dev/null || true)
    [ -n "$so" ] && ln -sf "$so" "$BUNDLE/lib/lib$l.so"
done
cat >"$BUNDLE/bin/llvm-config" <<WRAP
#!/bin/sh
# Stand-in for the bundle's llvm-config (written by scripts/cuda-llvm.sh).
out=\$("$LLVM/bin/llvm-config" "\$@") || exit \$?
# Report this lib dir; drop Polly (Debian ships it only as a plugin, not a static library), z3
# (a path the bundler cannot name) and xml2: the PTX path needs none of them.
printf '%s\n' "\$out" | sed -e "s#$LLVM/lib#$BUNDLE/lib#g" -e 's# -lPolly\(ISL\)\?##g' \
    -e 's# [^ ]*libz3[^ ]*##g' -e 's# -lxml2##g'
WRAP
chmod +x "$BUNDLE/bin/llvm-config"
# The bundler's install marker (cubecl-llvm rebuilds when it changes: leave an existing one).
[ -e "$BUNDLE/.tracel-llvm-installed" ] || touch "$BUNDLE/.tracel-llvm-installed"
echo "LLVM stand-in ready: $BUNDLE ($("$BUNDLE/bin/llvm-config" --version))"
