#!/usr/bin/env bash
# coverage.sh - gcovr reports after `run-all.sh --coverage` has run the unit
# tests and the harness against the coverage builds. Called by run-all.sh
# with its column list ("column stage args features" per argument).
#
# Per stage: a summary line (lines, branches) here, HTML details in
# build/coverage/STAGE/index.html. Sources: the stage's server (client.c is
# not counted: no scenario runs it). Data: build/STAGE/coverage (the harness)
# and build/tests/unit-coverage/STAGE (unit tests). Servers that do not
# handle SIGTERM themselves still write their counters: coverage builds link
# tests/gcov_flush.c, which dumps them from a SIGTERM handler.
#
# step10_timer must reach 90% of lines; below that a FAIL line is written to
# build/results/coverage-threshold.tsv (and counted by run-all.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

THRESHOLD_STAGE=step10_timer
THRESHOLD=90

echo
echo "== coverage (lines, branches) =="
for stage in $(for c in "$@"; do read -r _ s _ <<<"$c"; echo "$s"; done | sort -u); do
    dirs=("build/$stage/coverage")
    [[ -d build/tests/unit-coverage/$stage ]] && dirs+=("build/tests/unit-coverage/$stage")
    mkdir -p "build/coverage/$stage"
    summary=$(gcovr -r "$stage" --exclude '.*client\.c' --exclude '.*/tests/.*' \
                  --gcov-ignore-parse-errors \
                  --print-summary --html-details -o "build/coverage/$stage/index.html" \
                  "${dirs[@]}" 2>"build/coverage/$stage/gcovr.log" || true)
    lines=$(awk '/^lines:/ { print $2 }' <<<"$summary")
    branches=$(awk '/^branches:/ { print $2 }' <<<"$summary")
    printf '%-20s lines %-7s branches %-7s build/coverage/%s/index.html\n' \
        "$stage" "${lines:-?}" "${branches:-?}" "$stage"
    if [[ $stage == "$THRESHOLD_STAGE" ]]; then
        pct=${lines%\%}
        if [[ -z $pct ]] || awk -v p="$pct" -v t="$THRESHOLD" 'BEGIN { exit !(p < t) }'; then
            printf 'coverage_%s_lines\tFAIL\t%s%% of lines < %d%%\n' "$stage" "${pct:-?}" \
                "$THRESHOLD" >build/results/coverage-threshold.tsv
        else
            printf 'coverage_%s_lines\tPASS\t%s%%\n' "$stage" "$pct" \
                >build/results/coverage-threshold.tsv
        fi
    fi
done
