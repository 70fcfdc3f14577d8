# Stage timing for scripts/test.sh (sourced, not run): `stage NAME CMD...` runs CMD and records
# NAME, its wall seconds and CPU-seconds (user + system of CMD and everything it waited for) in
# $STAGE_LOG; `stage_table` prints them as the Markdown table docs/CI.md keeps.
STAGE_LOG=${STAGE_LOG:-${CI_OUT:-ci-out}/stages.tsv}
mkdir -p "$(dirname "$STAGE_LOG")"

# Seconds in bash's `times` format (e.g. 12m3.456s).
_stage_secs() { awk -v t="$1" 'BEGIN { split(t, p, "m"); sub("s", "", p[2]); printf "%.1f", p[1] * 60 + p[2] }'; }

stage() {
    local name=$1 t0=$EPOCHREALTIME rc=0 cpu_file
    shift
    cpu_file=$(mktemp)
    # A subshell, so `times` (its second line: the children's user and system time) counts this
    # stage's processes only; errexit stays on inside, so a failing step ends the stage.
    set +e
    (
        trap 'times >"$cpu_file"' EXIT
        set -e
        "$@"
    )
    rc=$?
    set -e
    local wall user sys
    wall=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
    read -r user sys < <(tail -n 1 "$cpu_file") || true
    rm -f "$cpu_file"
    user=$(_stage_secs "${user:-0m0s}")
    sys=$(_stage_secs "${sys:-0m0s}")
    printf '%s\t%s\t%s\t%s\n' "$name" "$wall" \
        "$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.1f", u + s }')" "$rc" >>"$STAGE_LOG"
    echo "== $name: ${wall} s (exit $rc) =="
    return $rc
}

stage_table() {
    echo "| stage | wall s | CPU-s |"
    echo "|---|---:|---:|"
    awk -F'\t' '{ printf "| %s | %s | %s |\n", $1, $2, $3 }' "$STAGE_LOG"
}
