#!/usr/bin/env bash
# The whole test suite, set-up included: the README's test command, and what .ci/run runs.
#
# Two lanes run side by side, so that one's serial phases (linking, single-threaded tests, apt)
# leave no core idle while the other builds:
#   native: one `cargo test --workspace` build (Cargo.toml's [profile.ci]) with wgpu as well as
#           the CPU device (flex), whose binaries then run the native tests, then the core's
#           reference tests and the data-parallel step on wgpu over Mesa's lavapipe; then a check
#           of the CUDA build in the same target dir (build scripts and proc macros reused).
#   web:    trunk and wasm-bindgen-cli (cheap profile, kept in ~/.cargo/bin by version), npm
#           tools, the wasm32 check of ssr2-core and ssr2-data, the browser app's build.
# The web lane ends with the browser end-to-end test once the native build is there (the `ssr2`
# binary trains the runs the page shows).
# Missing Debian packages are installed meanwhile (scripts/setup.sh). Each stage's wall and CPU
# seconds go to ci-out/stages.tsv and are printed as a table at the end (docs/CI.md).
#
# For developers only (never .ci/run): SKIP_CUDA=1, SKIP_LAVAPIPE=1, SKIP_WASM=1 (the wasm check
# and the browser app), SKIP_WEB=1 (only the browser app), SERIAL=1 (one lane after the other,
# output in order).
set -euo pipefail
cd "$(dirname "$0")/.."
export CI_OUT=${CI_OUT:-ci-out}
logs=$CI_OUT/logs
rm -rf "$logs" && mkdir -p "$logs"
export STAGE_LOG=$CI_OUT/stages.tsv
rm -f "$STAGE_LOG"
source scripts/stage.sh
t_start=$EPOCHREALTIME

# The native build's features and profile, shared with test-web.sh and test-wgpu-lavapipe.sh.
source scripts/native-build.env
web=1
[ "${SKIP_WASM:-0}" = "1" ] && web=0

# Events between the lanes: a file holding the exit status of what the other lane waits for.
wait_for() {
    local file=$CI_OUT/$1.rc
    while [ ! -s "$file" ]; do sleep 2; done
    if [ "$(cat "$file")" != 0 ]; then
        echo "error: $1 failed (its log: $2)" >&2
        return 1
    fi
}
rm -f "$CI_OUT"/*.rc
# apt in the background; the stages that need its packages wait for it.
( rc=0; stage setup scripts/setup.sh >"$logs/setup.log" 2>&1 || rc=$?; echo "$rc" >"$CI_OUT/setup.rc" ) &
wait_setup() { wait_for setup "$logs/setup.log" || { tail -n 30 "$logs/setup.log" >&2; return 1; }; }

native_lane() {
    local rc=0
    stage native-build native_cargo test --no-run || rc=$?
    echo "$rc" >"$CI_OUT/native-build.rc"
    [ $rc = 0 ] || return $rc
    wait_setup
    stage native-tests native_cargo test
    if [ "${SKIP_LAVAPIPE:-0}" = "1" ]; then
        echo "== wgpu on lavapipe skipped (SKIP_LAVAPIPE=1) =="
    else
        # The WGSL kernels (the batched Cholesky among them) on Mesa's lavapipe, Vulkan on the
        # CPU: the core's reference tests with every log-det route, from the build above.
        stage lavapipe scripts/test-wgpu-lavapipe.sh
    fi
    if [ "${SKIP_CUDA:-0}" = "1" ]; then
        echo "== CUDA build check skipped (SKIP_CUDA=1) =="
    else
        # No GPU here: this proves that the code behind the cuda features compiles.
        stage cuda-check bash -c 'scripts/cuda-llvm.sh &&
            CUDARC_CUDA_VERSION=13000 cargo check --profile ci -p ssr2 --features cuda-nvrtc'
    fi
}

web_lane() {
    # The web lane's compiles run at nice 10, so the native lane (the longer one: its build, then
    # the lavapipe tests, which wait on each shader compile) has the cores when both want them,
    # and the web lane fills whatever it leaves idle (docs/CI.md).
    command -v npm >/dev/null || wait_setup
    [ "${SKIP_WEB:-0}" = "1" ] || stage web-tools nice -n 10 scripts/web-tools.sh
    wait_setup
    stage wasm-check nice -n 10 scripts/check-wasm.sh
    [ "${SKIP_WEB:-0}" = "1" ] && return 0
    stage web-build nice -n 10 scripts/build-web.sh --ci
    # The end-to-end test trains its runs with the native build's `ssr2`, and drives the page in
    # headless chromium with WebGPU and on the CPU, while the native lane goes on.
    wait_for native-build "$logs/native_lane.log"
    stage web-e2e scripts/test-web.sh --no-build
}

# Runs lane $1 with its output in $logs/$1.log, and prints that log when the lane ends.
run_lane() {
    local rc
    # Its own subshell with errexit on: a failing stage ends the lane.
    set +e
    ( set -e; "$1" ) >"$logs/$1.log" 2>&1
    rc=$?
    set -e
    echo "==================== lane $1 (exit $rc) ===================="
    cat "$logs/$1.log"
    return $rc
}

if [ "${SERIAL:-0}" = "1" ]; then
    native_lane
    [ $web = 0 ] || web_lane
    [ $web = 0 ] || [ "${SKIP_WEB:-0}" != "1" ] || echo "== browser app skipped (SKIP_WEB=1) =="
else
    pids=()
    run_lane native_lane & pids+=($!)
    [ $web = 0 ] || { run_lane web_lane & pids+=($!); }
    failed=0
    for p in "${pids[@]}"; do wait "$p" || failed=1; done
    [ $failed = 0 ] || { echo "error: a lane failed (its log is above)" >&2; exit 1; }
fi
wait_setup
[ $web = 1 ] || echo "== wasm check and browser app skipped (SKIP_WASM=1) =="
echo
stage_table
total=$(awk -v a="$t_start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }')
echo "== all tests passed in $total s =="
