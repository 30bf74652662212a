#!/usr/bin/env bash
# run.sh - runs the transcripts of the notes (make test-notes) and writes
# one results row per note to build/results/notes/, as run-all.sh reads them.
#
#   bash tests/notes/run.sh          every notes/*.md
#   bash tests/notes/run.sh 05       notes/step05_*.md only
#   bash tests/notes/run.sh FILE.md ...      those notes (selftest.sh)
#   NOTES_JOBS=1 bash tests/notes/run.sh     one note at a time (default 2)
#   NOTES_OUT=DIR                    results there instead of build/results/notes
#
# Each note is turned into a cram test by extract.awk (build/notes/NOTE.t) and
# run by cram in bash, from the repository's root; a note whose output
# differs fails, and its diff is in build/results/notes/NOTE.log. Prints one
# line per note: blocks checked, blocks skipped, time, PASS or FAIL.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

# cram takes default options from $CRAM: none here.
unset CRAM
CRAM_BIN=$(command -v cram3 || command -v cram || true)
if [[ -z $CRAM_BIN ]]; then
    echo "notes: cram is not installed (Debian package python3-cram)" >&2
    exit 1
fi

case "${1:-}" in
    "") NOTES=$(ls notes/*.md) ;;
    [0-9][0-9]) NOTES=$(ls notes/step"$1"_*.md 2>/dev/null) ;;
    *.md) NOTES="$*" ;;
    *) echo "usage: bash tests/notes/run.sh [NN | FILE.md ...]" >&2; exit 2 ;;
esac
[[ -n $NOTES ]] || { echo "notes: no note for step ${1:-}" >&2; exit 2; }

OUT=${NOTES_OUT:-build/results/notes}
mkdir -p build/notes "$OUT"

# The notes build their steps in the tree (make -s stepNN) and several
# notes build the same step; two makes in one directory at once would
# race. Build everything they use first, so that theirs find it done.
if ! make -s all >build/notes/make.log 2>&1 || ! make -s -C tests/bench load >>build/notes/make.log 2>&1; then
    echo "notes: the build failed, see build/notes/make.log" >&2
    exit 1
fi

run_note() {    # note: extract, run, write $OUT/NAME.tsv and print a line
    local note=$1 name t counts start=$SECONDS checked skipped status
    name=$(basename "$note" .md)
    t=$ROOT/build/notes/$name.t
    counts=$ROOT/build/notes/$name.counts
    rm -f "$counts" "$OUT/$name.tsv" "$t.err"
    if ! awk -v note="$note" -v counts="$counts" -f tests/notes/extract.awk "$note" \
            >"$t" 2>"$OUT/$name.log"; then
        printf '%s\tFAIL\t%s\n' "$note" "$(head -1 "$OUT/$name.log")" >"$OUT/$name.tsv"
        printf 'notes    %-32s FAIL  %s\n' "$name" "$(head -1 "$OUT/$name.log")"
        return
    fi
    checked=$(awk '$1 == "checked" { print $2 }' "$counts")
    skipped=$(awk '$1 == "skipped" { print $2 }' "$counts")
    if (( checked == 0 )); then
        status=PASS
    else
        # timeout puts cram in a process group of its own: whatever a
        # transcript leaves behind is stopped with the group.
        NOTES_ROOT=$ROOT timeout -k 10 "${NOTES_TIMEOUT:-300}" \
            "$CRAM_BIN" --shell=/bin/bash "$t" >"$OUT/$name.log" 2>&1 &
        local pid=$!
        if wait $pid; then status=PASS; else status=FAIL; fi
        kill -- -$pid 2>/dev/null
    fi
    printf '%s\t%s\t%d blocks checked, %d skipped\n' "$note" "$status" "$checked" "$skipped" \
        >"$OUT/$name.tsv"
    awk -v n="$note" '$1 == "skip" { l = $2; $1 = $2 = ""; sub(/^ +/, "");
                                     printf "%s:%d\tSKIP\t%s\n", n, l, $0 }' \
        "$counts" >>"$OUT/$name.tsv"
    printf 'notes    %-20s %3d checked %2d skipped %4d s  %s\n' \
        "$name" "$checked" "$skipped" $((SECONDS - start)) "$status"
}
export -f run_note
export ROOT OUT CRAM_BIN

printf '%s\n' $NOTES | xargs -P "${NOTES_JOBS:-2}" -I{} bash -c 'run_note "$@"' _ {}

fail=0
for note in $NOTES; do
    name=$(basename "$note" .md)
    if grep -qs $'\tFAIL\t' "$OUT/$name.tsv"; then
        fail=1
        echo "--- $note: the transcripts differ ($OUT/$name.log):"
        head -60 "$OUT/$name.log"
    fi
done
exit $fail
