#!/usr/bin/env bash
# The browser app end to end: build it (installing trunk/wasm-bindgen/npm tools if missing), train
# one digits seed with `ssr2 train`, serve app + report on 127.0.0.1, and run the Playwright test
# in Debian's chromium twice: with WebGPU (--enable-unsafe-webgpu, SwiftShader) and on the CPU
# fallback. Screenshots and results.json go to ci-out/web/. `--no-build`: dist/ is already built
# (scripts/test.sh builds it in its web lane).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${CI_OUT:-ci-out}/web
rm -rf "$out" && mkdir -p "$out"
t0=$(date +%s)

if [ "${1:-}" = "--no-build" ]; then
    [ -f dist/index.html ] || { echo "error: --no-build, but dist/ holds no build" >&2; exit 1; }
else
    INSTALL=1 scripts/build-web.sh
fi
t_build=$(date +%s)

# The binary of scripts/test.sh's native build; `--no-run` builds it with the same features and
# profile if missing (a plain `cargo build -p ssr2` would rebuild Burn).
source scripts/native-build.env
[ -x "$SSR2_BIN" ] || native_cargo test --no-run
# --num-classes auto: the report carries the K-estimation curve the explorer draws; the digits
# preset holds out a test split, so it has inductive scores too.
"$SSR2_BIN" train --seeds 0 --num-classes auto --out "$out/run"
site="$out/site"
mkdir -p "$site/run"
cp -r dist/. "$site/"
cp "$out/run/seed-0/report.json" "$site/run/report.json"
# Its heads too: the page must refuse them for the image run below (other clusters).
cp "$out/run/seed-0/heads.safetensors" "$site/run/heads.safetensors"

# Image -> category: an image-only features run on the exported digit PNGs through the tiny random
# CLIP, and `ssr2 predict`'s answer for 30 of those PNGs, which the page must reproduce.
clip=tests/reference/clip-tiny
img="$out/imagecat"
"$SSR2_BIN" export-digits --out "$img/digits" >/dev/null
"$SSR2_BIN" extract --model "$clip" --dataset imagefolder --root "$img/digits" \
    --out "$img/digits.bundle" --no-test --quiet
"$SSR2_BIN" train --features "$img/digits.bundle" --preset digits --epochs 30 --seeds 0 \
    --out "$img/run" --quiet >/dev/null
mkdir -p "$site/imgrun/images" "$site/imgrun/clip"
for c in 0 1 2 3 4 5 6 7 8 9; do
    # The first three of each class; no `| head` (pipefail would fail on sort's SIGPIPE).
    mapfile -t pngs < <(find "$img/digits/$c" -name '*.png' | sort)
    cp "${pngs[@]:0:3}" "$site/imgrun/images/"
done
cp "$img/run/seed-0/report.json" "$img/run/seed-0/heads.safetensors" "$site/imgrun/"
cp "$clip/config.json" "$clip/model.safetensors" "$site/imgrun/clip/"
# Heads with the image run's 10 clusters but on 64 raw pixels: the page must name the dimensions.
"$SSR2_BIN" train --seeds 0 --epochs 1 --out "$img/pixels" --quiet >/dev/null
cp "$img/pixels/seed-0/heads.safetensors" "$site/imgrun/pixel-heads.safetensors"
"$SSR2_BIN" predict --run "$img/run/seed-0" --images "$site/imgrun/images" --model "$clip" \
    --json --quiet --out "$site/imgrun/expected.json"

port=${WEB_TEST_PORT:-8765}
python3 -m http.server --bind 127.0.0.1 "$port" --directory "$site" >"$out/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do
    curl -sf "http://127.0.0.1:$port/" >/dev/null && break
    sleep 0.2
done
node web/e2e/app.test.mjs "http://127.0.0.1:$port" "$site/run/report.json" "$out" webgpu cpu
echo "web: build $((t_build - t0)) s, train + browser test $(( $(date +%s) - t_build )) s; screenshots in $out"
