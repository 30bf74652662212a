#!/usr/bin/env bash
# mutant.sh - the short chaos run must catch deliberately broken servers.
#
# Each tests/chaos/mutants/NAME.patch breaks one step (a `column:` line in
# its header names the column to run it as). For each: a copy of the
# step's sources under build/mutants/NAME/, the patch applied, a normal
# build, and the harness's chaos scenario, exactly as `make test` runs it
# (same budget, a fresh seed). The mutant is caught if the scenario fails.
# One line per mutant goes to build/results/unit/chaos-mutants.tsv
# (chaos_mutant_NAME TAB PASS|FAIL TAB message), which run-all.sh counts.
#
#   bash tests/chaos/mutant.sh        (run-all.sh calls it after the harness)
set -uo pipefail
cd "$(dirname "$0")/../.."

out=build/results/unit/chaos-mutants.tsv
mkdir -p "$(dirname "$out")"
: >"$out"

result() {      # name PASS|FAIL message
    printf 'chaos_mutant_%s\t%s\t%s\n' "$1" "$2" "$(tr '\t\n' '  ' <<<"$3")" >>"$out"
    printf 'mutant   %s: %s %s\n' "$1" "$2" "${3:0:160}"
}

for patch in tests/chaos/mutants/*.patch; do
    name=$(basename "$patch" .patch)
    step=$(sed -n 's|^--- a/\([^/]*\)/.*|\1|p' "$patch" | head -n 1)
    col=$(sed -n 's/^column: *//p' "$patch" | head -n 1)
    read -r _ stage args feats < <(awk -v c="$col" '!/^#/ && $1 == c { f = $4
        for (i = 5; i <= NF; i++) f = f "," $i; print $1, $2, $3, f }' tests/stages.txt)
    if [[ -z ${stage:-} || $stage != "$step" ]]; then
        result "$name" FAIL "$patch: column '$col' is not a column of $step in tests/stages.txt"
        continue
    fi
    dir=build/mutants/$name
    rm -rf "$dir"
    mkdir -p "$dir/$step"
    cp "$step"/*.[ch] "$step/Makefile" "$dir/$step/"
    if ! patch -s -p1 -d "$dir" <"$patch" >"$dir/patch.log" 2>&1; then
        result "$name" FAIL "$patch no longer applies to $step (see $dir/patch.log): refresh it"
        continue
    fi
    if ! make -s -j2 -C "$dir/$step" O="$PWD/$dir/normal" >"$dir/build.log" 2>&1; then
        result "$name" FAIL "the mutant does not build (see $dir/build.log)"
        continue
    fi
    build/tests/harness --column "$col+$name" --server "$dir/normal/server" --args "$args" \
        --features "$feats" --build normal --results "$dir/chaos.tsv" --only chaos \
        >"$dir/chaos.log" 2>&1
    verdict=$(cut -f2 "$dir/chaos.tsv" 2>/dev/null)
    msg=$(cut -f3 "$dir/chaos.tsv" 2>/dev/null)
    if [[ $verdict == FAIL ]]; then
        result "$name" PASS "caught by the short chaos run on $col: ${msg%%; replay:*}"
    else
        result "$name" FAIL "survived the short chaos run on $col (${verdict:-no result}: $msg)"
    fi
done
