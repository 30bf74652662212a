#!/usr/bin/env bash
# run.sh - `make chaos` and `make soak`: the chaos client (tests/chaos) on
# its own, with the columns of tests/stages.txt.
#
#   make chaos [SECONDS=600] [COLUMN=10-t2w2] [BUILD=tsan]   (SECONDS reaches
#       this script as CHAOS_SECONDS: bash's SECONDS is its own clock)
#       the long run: random server options (-t, -w, -m, -i) and SIGTERM at
#       random moments, on every column in its normal, asan and (threads)
#       tsan builds, or on the ones chosen; SECONDS in all (default 120),
#       split evenly, two runs at a time
#   make chaos COLUMN=10 BUILD=asan SEED=N [CONNS=N] [CONC=N] [EXTRA=-m,1000]
#              [OVERSIZE=0|1] [SIGTERM_MS=N] [ONLY=K]
#       a replay: what a failure prints (ONLY=K: connection K alone)
#   make soak [MINUTES=2 | HOURS=1] [SAVE=1]
#       column 10-t2w2 under churn; samples, verdict and plot in
#       build/soak/ (SAVE=1 also copies them to tests/chaos/results/)
#
# Logs: build/chaos/COLUMN-BUILD.log, the servers' stderr next to them.
set -euo pipefail
cd "$(dirname "$0")/../.."

MODE=${1:-chaos}
CHAOS=build/tests/chaos

# COLS: "column stage args features" for every column whose stage exists.
COLS=()
while read -r col stage args feats; do
    [[ -d $stage ]] && COLS+=("$col $stage $args $feats")
done < <(awk '!/^#/ && NF >= 4 { f = $4; for (i = 5; i <= NF; i++) f = f "," $i;
                                 print $1, $2, $3, f }' tests/stages.txt)

column() {      # column -> "column stage args features", or exit
    for c in "${COLS[@]}"; do
        [[ ${c%% *} == "$1" ]] && { echo "$c"; return 0; }
    done
    echo "run.sh: no column '$1' in tests/stages.txt" >&2
    exit 2
}

builds_of() {   # features -> builds
    echo normal asan
    [[ ,$1, == *,threads,* ]] && echo tsan
    return 0
}

build() {       # builds the client and the given STAGE@BUILD words
    make -s -C tests chaos
    make -s -j2 -C tests builds BUILDS="$*"
}

# ---- make soak --------------------------------------------------------------

if [[ $MODE == soak ]]; then
    if [[ -n ${HOURS:-} ]]; then seconds=$((HOURS * 3600)); else seconds=$((${MINUTES:-2} * 60)); fi
    read -r col stage args feats <<<"$(column 10-t2w2)"
    build "$stage@normal"
    out=build/soak
    mkdir -p "$out"
    echo "soak: column $col for $seconds s; samples in $out/samples.tsv"
    status=0
    "$CHAOS" --column "$col" --server "build/$stage/normal/server" --args "$args" \
        --features "$feats" --build normal --seconds "$seconds" --conc 32 \
        --extra -m,262144,-i,2,-M,1073741824 --soak "$out/samples.tsv" ${SEED:+--seed "$SEED"} \
        | tee "$out/soak.log" || status=1
    if ! command -v gnuplot >/dev/null && [[ $(id -u) -eq 0 ]]; then
        echo "soak: installing gnuplot-nox for the plot"
        apt-get install -y -qq gnuplot-nox >/dev/null 2>&1 ||
            { apt-get update -qq && apt-get install -y -qq gnuplot-nox >/dev/null; } || true
    fi
    if command -v gnuplot >/dev/null; then
        verdict=$(sed -n 's/^soak verdict: //p' "$out/soak.log")
        gnuplot -e "samples='$out/samples.tsv'; out='$out/soak.png'; verdict='$verdict'" \
            tests/chaos/soak.gp && echo "soak: plot in $out/soak.png"
    else
        echo "soak: no gnuplot (apt-get install gnuplot-nox), no plot"
    fi
    if [[ ${SAVE:-0} == 1 ]]; then
        stamp=$(date -u +%Y%m%d-%H%M)
        mkdir -p tests/chaos/results
        cp "$out/samples.tsv" "tests/chaos/results/soak-$stamp.tsv"
        cp "$out/soak.log" "tests/chaos/results/soak-$stamp.txt"
        [[ -f $out/soak.png ]] && cp "$out/soak.png" "tests/chaos/results/soak-$stamp.png"
        echo "soak: saved as tests/chaos/results/soak-$stamp.*"
    fi
    exit $status
fi

# ---- make chaos SEED=...: a replay --------------------------------------------

if [[ -n ${SEED:-} ]]; then
    read -r col stage args feats <<<"$(column "${COLUMN:?a replay needs COLUMN=}")"
    b=${BUILD:-normal}
    build "$stage@$b"
    exec "$CHAOS" --column "$col" --server "build/$stage/$b/server" --args "$args" \
        --features "$feats" --build "$b" --seed "$SEED" --seconds "${CHAOS_SECONDS:-10}" \
        ${CONNS:+--conns "$CONNS"} ${CONC:+--conc "$CONC"} ${EXTRA:+--extra "$EXTRA"} \
        ${OVERSIZE:+--oversize "$OVERSIZE"} ${SIGTERM_MS:+--sigterm-ms "$SIGTERM_MS"} \
        ${ONLY:+--only-conn "$ONLY"}
fi

# ---- make chaos: the long run -----------------------------------------------

JOBS=()         # "build column stage args features"
for c in "${COLS[@]}"; do
    read -r col stage args feats <<<"$c"
    [[ -n ${COLUMN:-} && $col != "$COLUMN" ]] && continue
    for b in $(builds_of "$feats"); do
        [[ -n ${BUILD:-} && $b != "$BUILD" ]] && continue
        JOBS+=("$b $col $stage $args $feats")
    done
done
(( ${#JOBS[@]} > 0 )) || { echo "run.sh: nothing matches COLUMN=${COLUMN:-} BUILD=${BUILD:-}" >&2; exit 2; }
total=${CHAOS_SECONDS:-120}
each=$(( total * 2 / ${#JOBS[@]} ))
(( each >= 5 )) || each=5
build $(for j in "${JOBS[@]}"; do read -r b _ stage _ <<<"$j"; echo "$stage@$b"; done | sort -u)
mkdir -p build/chaos
echo "chaos: ${#JOBS[@]} runs of $each s, two at a time, random server options"

chaos_job() {   # build column stage args features seconds
    local log=build/chaos/$2-$1.log
    if build/tests/chaos --column "$2" --server "build/$3/$1/server" --args "$4" \
            --features "$5" --build "$1" --seconds "$6" --random-options >"$log" 2>&1; then
        printf '%-7s %-8s ok   %s\n' "$1" "$2" "$(awk '/^round/ { n++
            if (match($0, /: [0-9]+ conns/)) c += substr($0, RSTART + 2, RLENGTH - 8) }
            END { printf "%d rounds, %d conns", n, c }' "$log")"
    else
        printf '%-7s %-8s FAIL (%s)\n' "$1" "$2" "$log"
        sed -n '/^chaos: FAIL/,$p' "$log"
        return 1
    fi
}
export -f chaos_job

status=0
for j in "${JOBS[@]}"; do echo "$j $each"; done |
    xargs -P2 -L1 bash -c 'chaos_job "$@"' _ || status=1
exit $status
