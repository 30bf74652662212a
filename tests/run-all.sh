#!/usr/bin/env bash
# run-all.sh - builds every stage, runs the unit tests and the stage harness
# on every column of tests/stages.txt, runs the notes' transcripts, prints the
# behaviour matrix of each build, "N skipped" if any was, and, last,
# "N passed, N failed".
# Exit status 0 only if none failed.
#
#   bash tests/run-all.sh              normal and asan builds (tsan too for
#                                      stages with threads)    = make test
#   bash tests/run-all.sh --step 05    one stage: its columns, its builds and
#                                      its unit tests (no notes, no fuzzing)
#                                                              = make test STEP=05
#   bash tests/run-all.sh --coverage   coverage builds, gcovr reports under
#                                      build/coverage/STAGE/   = make coverage
#
# Results: build/results/BUILD/COLUMN.tsv (scenario TAB result TAB message),
# the servers' stderr under build/results/BUILD/COLUMN/, unit tests under
# build/results/unit/. XFAIL counts as passed; FAIL and XPASS as failed.
set -euo pipefail

cd "$(dirname "$0")/.."
START=$(date +%s)
MODE=test
STEP=""
case "${1:-}" in
    "") ;;
    --coverage) MODE=coverage ;;
    --step) STEP=${2:-}
            [[ $STEP =~ ^[0-9][0-9]$ ]] && compgen -G "step${STEP}_*" >/dev/null ||
                { echo "run-all.sh: --step NN: no step '$STEP'" >&2; exit 2; } ;;
    *) echo "usage: bash tests/run-all.sh [--coverage | --step NN]" >&2; exit 2 ;;
esac

# ---- dependencies ---------------------------------------------------------

missing=()
# python3-cram runs the notes' transcripts; they also use nc, xxd, strace,
# ss and ps (see tests/README.md).
for pkg in check gcovr pkg-config valgrind python3-cram netcat-openbsd xxd strace \
           iproute2 procps; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$pkg")
    fi
done
if (( ${#missing[@]} > 0 )); then
    if [[ $(id -u) -eq 0 ]]; then
        echo "installing ${missing[*]}"
        apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "missing packages; run: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
fi

# ---- the stage table ------------------------------------------------------

# COLS: "column stage args features" for every column whose stage exists.
COLS=()
while read -r col stage args feats; do
    [[ -d $stage && $stage == step${STEP}* ]] && COLS+=("$col $stage $args $feats")
done < <(awk '!/^#/ && NF >= 4 { f = $4; for (i = 5; i <= NF; i++) f = f "," $i;
                                 print $1, $2, $3, f }' tests/stages.txt)
if (( ${#COLS[@]} == 0 )); then
    echo "no stage directory exists yet" >&2
    exit 1
fi

# The builds of a column: normal and asan; tsan where it has threads.
builds_of() {
    if [[ $MODE == coverage ]]; then
        echo coverage
    else
        echo normal asan
        [[ ,$1, == *,threads,* ]] && echo tsan
    fi
    return 0
}

# ---- build ----------------------------------------------------------------

BUILDS=$(for c in "${COLS[@]}"; do
             read -r _ stage _ feats <<<"$c"
             for b in $(builds_of "$feats"); do echo "$stage@$b"; done
         done | sort -u | tr '\n' ' ')
echo "building: $BUILDS"
if [[ $MODE == coverage ]]; then      # fresh counters, and flags changes
    rm -rf build/step*/coverage build/tests/unit-coverage build/coverage
fi
make -s -C tests harness
make -s -k -j2 -C tests builds BUILDS="$BUILDS" ||
    echo "some builds failed: their columns fail below"

rm -rf build/results
mkdir -p build/results/unit

# ---- unit tests -------------------------------------------------------------

unit_flags=()
[[ $MODE == coverage ]] && unit_flags=(COVERAGE=1)
[[ -n $STEP ]] && unit_flags+=(STEP_ONLY="$STEP")
if ! make -s -j2 -C tests unit "${unit_flags[@]}"; then
    if ! grep -qs $'\tFAIL' build/results/unit/*.tsv; then
        printf 'make-unit\tFAIL\tmake -C tests unit failed\n' >build/results/unit/make.tsv
    fi
fi

# ---- a short fuzzing run of the framing decoder, where clang can ---------

if [[ $MODE != coverage && -z $STEP ]]; then
    if printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n)\n{ (void)d; (void)n; return 0; }\n' |
        clang -x c -fsanitize=fuzzer -o /dev/null - 2>/dev/null; then
        if make -s -C tests fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-10}" >build/results/fuzz.log 2>&1; then
            runs=$(grep -o 'number_of_executed_units: [0-9]*' build/results/fuzz.log | awk '{ print $2 }')
            printf 'fuzz_codec\tPASS\t%s executions, no crash\n' "${runs:-?}" >build/results/unit/fuzz.tsv
        else
            printf 'fuzz_codec\tFAIL\tsee build/results/fuzz.log\n' >build/results/unit/fuzz.tsv
        fi
        echo "fuzz     codec: $(cut -f3 build/results/unit/fuzz.tsv)"
    else
        echo "fuzz     skipped: clang with -fsanitize=fuzzer is not installed"
    fi
fi

# ---- the harness, two columns at a time -----------------------------------

SCENARIOS=$(build/tests/harness --list | tr '\n' ' ')
NSCENARIOS=$(wc -w <<<"$SCENARIOS")

run_job() {    # build column stage args features
    local out=build/results/$1/$2 start=$SECONDS summary
    mkdir -p "build/results/$1"
    build/tests/harness --column "$2" --server "build/$3/$1/server" --args "$4" \
        --features "$5" --build "$1" --results "$out.tsv" >"$out.log" 2>&1 || true
    summary=$(grep -E '^[0-9]+%: Checks' "$out.log" || echo "harness crashed, see $out.log")
    printf '%-8s %-8s %3d s  %s\n' "$1" "$2" $((SECONDS - start)) "$summary"
}
export -f run_job

# Two column-builds at a time on the whole matrix (2 cores); one step's
# (at most 6) three at a time: most of a column's time is scenarios waiting
# on the server's timers (-i, the pacing of fair_neighbour), not CPU.
JOBS=${HARNESS_JOBS:-$([[ -n $STEP ]] && echo 3 || echo 2)}
echo "running the harness on ${#COLS[@]} columns ($NSCENARIOS scenarios each)"
for b in tsan asan normal coverage; do      # the slowest builds first
    for c in "${COLS[@]}"; do
        read -r col stage args feats <<<"$c"
        if [[ " $(builds_of "$feats" | tr '\n' ' ') " == *" $b "* ]]; then
            echo "$b $col $stage $args $feats"
        fi
    done
done | xargs -P"$JOBS" -L1 bash -c 'run_job "$@"' _

# Broken copies of a step that the chaos scenario must catch (tests/chaos);
# with --step, only for that step's run.
if [[ $MODE != coverage && ( -z $STEP || $STEP == "$(basename "$(ls -d step*_* | tail -1)" | cut -c5-6)" ) ]]; then
    bash tests/chaos/mutant.sh
fi

# A results file without one line per scenario means the harness broke.
for f in build/results/*/*.tsv; do
    [[ $f == build/results/unit/* ]] && continue
    n=$(wc -l <"$f")
    if (( n != NSCENARIOS )); then
        printf 'results\tFAIL\t%s has %d lines for %d scenarios\n' "$f" "$n" "$NSCENARIOS" \
            >>build/results/unit/harness-integrity.tsv
    fi
done

# ---- the notes' transcripts -------------------------------------------------

if [[ $MODE != coverage && -z $STEP ]]; then
    echo "running the notes' transcripts (make test-notes) and their self-test"
    bash tests/notes/selftest.sh || true
    bash tests/notes/run.sh >build/results/notes.log 2>&1 || true
    grep '^notes ' build/results/notes.log || true
    sed -n '/^--- notes/,$p' build/results/notes.log | head -100
fi

# ---- the matrix, failures, coverage ---------------------------------------

for b in normal asan tsan coverage; do
    cols=""
    for c in "${COLS[@]}"; do
        read -r col _ <<<"$c"
        [[ -f build/results/$b/$col.tsv ]] && cols+="$col "
    done
    [[ -n $cols ]] || continue
    awk -F'\t' -v build="$b" -v cols="$cols" -v scenarios="$SCENARIOS" \
        -f tests/matrix.awk build/results/"$b"/*.tsv
done

if [[ $MODE == coverage ]]; then
    bash tests/coverage.sh "${COLS[@]}"
fi

echo
awk -F'\t' '$2 == "FAIL" || $2 == "XPASS" {
                f = FILENAME; sub(/^build\/results\//, "", f); sub(/\.tsv$/, "", f)
                printf "%s %s %s: %s\n", $2, f, $1, $3 }' \
    $(find build/results -name "*.tsv" | sort) /dev/null

echo "time: $(( $(date +%s) - START )) s"
awk -F'\t' '$2 == "PASS" || $2 == "XFAIL" { p++ }
            $2 == "FAIL" || $2 == "XPASS" { f++ }
            $2 == "SKIP" { s++ }
            END { if (s) printf "%d skipped (blocks of the notes marked with the reason)\n", s
                  printf "%d passed, %d failed\n", p, f; exit f > 0 }' \
    $(find build/results -name "*.tsv" | sort) /dev/null
