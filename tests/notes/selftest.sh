#!/usr/bin/env bash
# selftest.sh - the notes' check must fail when a note is wrong. Runs
# tests/notes/run.sh on small notes made here, and on a real note with one
# expected line changed, and writes one results row per case to
# build/results/unit/notes-selftest.tsv (make test counts them).
set -uo pipefail
cd "$(dirname "$0")/../.."
W=build/notes-selftest
rm -rf "$W"; mkdir -p "$W/results" build/results/unit
RESULTS=build/results/unit/notes-selftest.tsv
: >"$RESULTS"

# expect CASE STATUS FILE: run FILE, compare the note's status with STATUS.
expect() {
    local case=$1 want=$2 file=$3 got
    NOTES_OUT=$W/results NOTES_JOBS=1 bash tests/notes/run.sh "$file" >"$W/$case.out" 2>&1
    got=$(awk -F'\t' 'NR == 1 { print $2 }' "$W/results/$(basename "$file" .md).tsv" 2>/dev/null)
    if [[ $got == "$want" ]]; then
        printf 'notes_selftest_%s\tPASS\t\n' "$case" >>"$RESULTS"
    else
        printf 'notes_selftest_%s\tFAIL\tthe note %s, want %s: see %s\n' \
            "$case" "${got:-gave no result}" "$want" "$W/$case.out" >>"$RESULTS"
    fi
}

fence='```'
cat >"$W/right.md" <<END
A transcript that is right, with a pattern, an exit status, a skipped block:

${fence}console
\$ echo hello; echo "port \$((40000 + RANDOM % 1000))"
hello
port 40* (glob)
\$ false
[1]
${fence}

<!-- skip: shows a block that is not run -->
${fence}console
\$ echo not run
something else
${fence}
END
expect right PASS "$W/right.md"
if ! grep -q $'\tSKIP\tshows a block that is not run$' "$W/results/right.tsv"; then
    printf 'notes_selftest_skip_counted\tFAIL\tno SKIP row in %s\n' "$W/results/right.tsv" \
        >>"$RESULTS"
fi

sed 's/^hello$/goodbye/' "$W/right.md" >"$W/wrong_output.md"
expect wrong_output FAIL "$W/wrong_output.md"

sed 's/^\[1\]$//' "$W/right.md" >"$W/wrong_status.md"
expect wrong_status FAIL "$W/wrong_status.md"

cat >"$W/outside.md" <<END
A transcript outside a console block is not checked, so it is an error:

${fence}
\$ echo hello
hello
${fence}
END
expect outside FAIL "$W/outside.md"

# A real note, its first expected output line changed.
note=notes/step01_socket.md
awk -v out="$W/step01_socket.md" '
    /^```console$/ { inblock = 1; print > out; next }
    /^```$/        { inblock = 0 }
    inblock && !done && !/^\$ / { print $0 "-changed" > out; done = 1; next }
    { print > out }' "$note"
if cmp -s "$note" "$W/step01_socket.md"; then
    printf 'notes_selftest_real_note\tFAIL\tno expected line found in %s\n' "$note" >>"$RESULTS"
else
    expect real_note FAIL "$W/step01_socket.md"
fi

awk -F'\t' '{ print "notes    selftest " $1 ": " $2 (($3 != "") ? " (" $3 ")" : "") }' "$RESULTS"
! grep -q $'\tFAIL\t' "$RESULTS"
