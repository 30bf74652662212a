#!/usr/bin/env bash
# run.sh - runs the benchmarks of tests/bench (see README.md).
#
#   bash run.sh bench            throughput, latency, CPU per message
#   bash run.sh bench-idle       server memory per idle connection
#   bash run.sh bench-syscalls   syscalls per message, under strace
#   bash run.sh bench-sweep      CPU per message against message size
#   bash run.sh bench-client     the clients: CLIENT_LINES lines, blocking
#                                (step09) against pipelining (step10)
#
# The Makefile builds the load client, the peers and every step first, and
# passes the knobs in the environment (defaults below). The servers are the
# stages of tests/stages.txt that serve many clients (their base column; the
# threaded ones with -t 0, step10 once more with -t 2) and the two reference
# peers, in each protocol a stage speaks; the sweep runs the newest stage and
# the peers, the floor (peer_epoll) among them. A server runs pinned to
# SERVER_CPU and the client to CLIENT_CPU; every run gets a fresh server on
# port 0.
set -u -o pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
LOAD=$HERE/load
RESULTS=$HERE/results

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-2}
WARMUP=${WARMUP:-0.25}
TIMEOUT=${TIMEOUT:-5}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
IDLE_CONNS=${IDLE_CONNS:-10000}
SYSCALL_MSGS=${SYSCALL_MSGS:-5000}
SWEEP_ROUNDS=${SWEEP_ROUNDS:-$ROUNDS}
SWEEP_SIZES=${SWEEP_SIZES:-64 512 2K 4K 8K 16K 64K 256K}
T2_STAGE=10                     # the stage that also runs with -t 2
SWEEP_STAGE=10                  # the stage of the size sweep
CLIENT_LINES=${CLIENT_LINES:-100000}
CLIENT_ROUNDS=${CLIENT_ROUNDS:-$ROUNDS}

# The workloads of `bench`, in order: load arguments and a title.
WORKLOADS=(pingpong pipeline conn1000 bulk)
declare -A WL_ARGS=(
    [pingpong]="-c 100 -k 1 -s 4096"
    [pipeline]="-c 10 -k 16 -s 16"
    [conn1000]="-c 1000 -k 1 -s 64"
    [bulk]="-c 10 -k 1 -s 1M"
)
declare -A WL_TITLE=(
    [pingpong]="ping-pong: 100 connections x 4 KiB, 1 in flight"
    [pipeline]="pipelined: 10 connections x 16 B, 16 in flight"
    [conn1000]="many connections: 1000 x 64 B, 1 in flight"
    [bulk]="bulk: 10 connections x 1 MiB, 1 in flight"
)

# The servers: ROWS in order; per row its binary, protocol, extra
# arguments, stage directory (or peer name) and the libevent row it is
# compared with.
ROWS=()
declare -A ROW_BIN ROW_PROTO ROW_ARGS ROW_STAGE ROW_REF

# Scratch under results/ (ignored by git as *.tmp), away from /tmp cleaners.
mkdir -p "$RESULTS"
TMP=$(mktemp -d "$RESULTS/run.XXXXXX.tmp")
SRV_PID='' SRV_PORT='' SRV_NOTE='' BG_PID='' DIED='' STARTED=0

log()  { printf '%s\n' "$*" >&2; }
die()  { log "bench: $*"; exit 1; }

cleanup()
{
    local pid
    [[ $BASHPID == "$$" ]] || return   # a subshell leaves it to the script
    for pid in $BG_PID $SRV_PID; do
        is_child "$pid" && kill -KILL "$pid" && wait "$pid" 2>/dev/null
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- servers --------------------------------------------------------------

add_row()   # NAME BIN PROTO ARGS STAGE
{
    ROWS+=("$1")
    ROW_BIN[$1]=$2 ROW_PROTO[$1]=$3 ROW_ARGS[$1]=$4 ROW_STAGE[$1]=$5
    ROW_REF[$1]=libevent
    [[ $3 == raw ]] && ROW_REF[$1]=libevent-raw
}

load_rows()
{
    local column stage args features proto extra protos=
    while read -r column stage args features; do
        [[ -z $column || $column == \#* || $args != - ]] && continue
        [[ " $features " == *" multi "* && -x $ROOT/$stage/server ]] || continue
        proto=framed extra=
        [[ " $features " == *" raw "* ]] && proto=raw
        [[ " $features " == *" threads "* ]] && extra="-t 0"
        add_row "$column" "$ROOT/$stage/server" "$proto" "$extra" "$stage"
        [[ $column == "$T2_STAGE" ]] &&
            add_row "$column-t2" "$ROOT/$stage/server" "$proto" "-t 2" "$stage"
        protos+=" $proto"
    done <"$ROOT/tests/stages.txt"

    [[ -z $protos ]] && protos=framed
    for proto in framed raw; do
        [[ $protos == *$proto* ]] || continue
        local suffix='' flag=''
        [[ $proto == raw ]] && suffix=-raw flag=--raw
        add_row "libevent$suffix" "$HERE/peers/peer_libevent" "$proto" "$flag" peer_libevent
        add_row "libuv$suffix" "$HERE/peers/peer_libuv" "$proto" "$flag" peer_libuv
    done
}

# The rows of the sweep: the stage SWEEP_STAGE (one loop, -t 0), the two
# peers and the floor, all framed, each compared with the floor.
sweep_rows()
{
    local column stage args features
    while read -r column stage args features; do
        [[ $column == "$SWEEP_STAGE" && -x $ROOT/$stage/server ]] || continue
        local extra=
        [[ " $features " == *" threads "* ]] && extra="-t 0"
        add_row "$column" "$ROOT/$stage/server" framed "$extra" "$stage"
    done <"$ROOT/tests/stages.txt"
    add_row libuv "$HERE/peers/peer_libuv" framed "" peer_libuv
    add_row libevent "$HERE/peers/peer_libevent" framed "" peer_libevent
    add_row epoll "$HERE/peers/peer_epoll" framed "" peer_epoll
    for row in "${ROWS[@]}"; do ROW_REF[$row]=epoll; done
}

# wait_for REGEX FILE PID SECONDS: true once FILE has a line matching REGEX;
# false if PID exits first or time runs out.
wait_for()
{
    local i tries=$(( $4 * 20 ))
    for (( i = 0; i < tries; i++ )); do
        grep -qE "$1" "$2" 2>/dev/null && return 0
        kill -0 "$3" 2>/dev/null || { grep -qE "$1" "$2" 2>/dev/null; return; }
        sleep 0.05
    done
    return 1
}

# server_start ROW: starts the row's server on 127.0.0.1 port 0, pinned to
# SERVER_CPU; sets SRV_PID and SRV_PORT from its start-up line, or SRV_NOTE
# to why there is none.
server_start()
{
    local row=$1
    : >"$TMP/server.out"             # cleared here, not in the child: no race
    # shellcheck disable=SC2086 # ROW_ARGS is a word list
    taskset -c "$SERVER_CPU" "${ROW_BIN[$row]}" 127.0.0.1 0 ${ROW_ARGS[$row]} \
        >"$TMP/server.out" 2>"$TMP/server.err" &
    SRV_PID=$!
    if wait_for '^listening on ' "$TMP/server.out" "$SRV_PID" 5; then
        SRV_PORT=$(sed -n '1s/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$TMP/server.out")
        [[ -n $SRV_PORT ]] && return 0
    fi
    server_stop
    SRV_NOTE="no start-up line${SRV_NOTE:+, $SRV_NOTE}$(head -n 1 "$TMP/server.err" | sed 's/^/: /')"
    return 1
}

# is_child PID: true while PID is a live child of this script, not one that
# has ended (and whose number the kernel may have handed to another process).
is_child()
{
    local stat state ppid
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    read -r state ppid _ <<<"${stat##*) }"
    [[ $state != Z && $ppid == "$$" ]]
}

# stop_process PID SIGNAL: sends SIGNAL, gives the process two seconds to
# exit, then kills it. If it had ended on its own, DIED says how.
stop_process()
{
    local i status
    DIED=''
    if ! is_child "$1"; then
        wait "$1" 2>/dev/null
        status=$?
        if (( status > 128 )); then
            DIED="killed by signal $(kill -l $(( status - 128 )))"
        else
            DIED="exited with status $status"
        fi
        return
    fi
    kill "-$2" "$1" 2>/dev/null
    for (( i = 0; i < 40; i++ )); do
        is_child "$1" || break
        sleep 0.05
    done
    is_child "$1" && kill -KILL "$1"
    wait "$1" 2>/dev/null
}

# server_stop: stops the server; SRV_NOTE tells if it had died during the run.
server_stop()
{
    SRV_NOTE=''
    [[ -n $SRV_PID ]] && stop_process "$SRV_PID" TERM
    [[ -n $DIED ]] && SRV_NOTE="server $DIED"
    SRV_PID=''
}

# bg_stop SIGNAL: stops the background helper (load --hold, strace).
bg_stop()
{
    [[ -n $BG_PID ]] && stop_process "$BG_PID" "$1"
    BG_PID=''
}

# run_load ROW ARGS...: the load client, pinned to CLIENT_CPU, against the
# running server in the row's protocol. It execs: call it in a subshell,
# $(...), ( ... ) or &, where $! is then the client's own pid.
run_load()
{
    local row=$1
    shift
    exec taskset -c "$CLIENT_CPU" "$LOAD" 127.0.0.1 "$SRV_PORT" --proto "${ROW_PROTO[$row]}" "$@"
}

# report_failure WHAT NOTE ROW LOAD-ARGS...: the failure, and how to
# reproduce the run by hand.
report_failure()
{
    local row=$3
    log "bench: FAIL $1: $2"
    shift 3
    log "$(printf '  %s 127.0.0.1 0 %s   # then:\n  %s 127.0.0.1 PORT --proto %s %s' \
        "${ROW_BIN[$row]#"$ROOT"/}" "${ROW_ARGS[$row]}" "${LOAD#"$ROOT"/}" \
        "${ROW_PROTO[$row]}" "$*")"
}

jfield()    # JSON KEY: a value of the load client's flat JSON line
{
    sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p" <<<"$1"
}

vmrss_kib() # PID
{
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null
}

# Every server needs one descriptor per connection: lift the soft limit.
raise_nofile()  # WANT
{
    ulimit -n "$(ulimit -Hn)" 2>/dev/null
    (( $(ulimit -n) >= $1 )) ||
        die "need $1 open files, the hard limit is $(ulimit -Hn); lower IDLE_CONNS"
}

save_result()   # FILE PREFIX: results/FILE and a dated copy
{
    mkdir -p "$RESULTS"
    cp "$TMP/$1" "$RESULTS/$1"
    cp "$TMP/$1" "$RESULTS/$2-$(date +%Y%m%d-%H%M%S).json"
}

# The per-server JSON of bench-idle and bench-syscalls, $TMP/NAME.json:
#   servers_json_open NAME FIELDS     {"date":...,FIELDS,"servers":[
#   servers_json_add NAME ROW STATUS FIELDS   one server's object
#   servers_json_save NAME            ]}, saved under results/
servers_json_open()
{
    printf '{"date":"%s",%s,"servers":[' "$(date -Iseconds)" "$2" >"$TMP/$1.json"
}

servers_json_add()
{
    local sep=,
    [[ $(tail -c 1 "$TMP/$1.json") == "[" ]] && sep=
    printf '%s{"name":"%s","stage":"%s","proto":"%s","args":"%s","status":"%s",%s}' \
        "$sep" "$2" "${ROW_STAGE[$2]}" "${ROW_PROTO[$2]}" "${ROW_ARGS[$2]}" "$3" "$4" \
        >>"$TMP/$1.json"
}

servers_json_save()
{
    echo ']}' >>"$TMP/$1.json"
    save_result "$1.json" "$1"
    printf '\nresults: %s/%s.json\n' "${RESULTS#"$ROOT"/}" "$1"
}

# ---- bench ----------------------------------------------------------------

declare -A FAILED               # "workload row" -> 1 after a failed run

bench_run()     # ROUND WORKLOAD ROW: one R line of the run table
{
    local round=$1 wl=$2 row=$3 json='' status=fail note='' try key
    # shellcheck disable=SC2206
    local args=(${WL_ARGS[$wl]} -d "$DURATION" --warmup "$WARMUP" --timeout "$TIMEOUT")

    # A failed run is tried once more: on a shared machine a server can be
    # starved or killed from outside. Two failures in a row are the stage's.
    for try in 1 2; do
        if server_start "$row"; then
            json=$(run_load "$row" "${args[@]}" --pid "$SRV_PID" --json 2>"$TMP/load.err") &&
                status=ok
            server_stop
            [[ $status == ok ]] && break
            note="$(head -n 1 "$TMP/load.err")${SRV_NOTE:+; $SRV_NOTE}"
        else
            note=$SRV_NOTE
        fi
        (( try == 1 )) && log "bench: $row, $wl (round $round): $note; once more"
    done
    if [[ $status == fail ]]; then
        FAILED["$wl $row"]=1
        report_failure "$row, $wl (round $round)" "$note" "$row" "${args[@]}"
    fi
    printf 'R\t%s\t%s\t%s\t%s' "$round" "$wl" "$row" "$status"
    for key in msgs_per_s mib_per_s p50_us p99_us p999_us cpu_us_per_msg \
               user_us_per_msg sys_us_per_msg errors; do
        printf '\t%s' "$(jfield "$json" "$key")"
    done
    printf '\t%s\n' "$note"
}

# run_rounds TSV ROUNDS: the header of the run table (M, W, S lines), then
# ROUNDS rounds, each running every row once per workload. Interleaved: the
# order is rotated from round to round and workload to workload.
run_rounds()
{
    local tsv=$1 rounds=$2 n=${#ROWS[@]} r w i row wl
    {
        printf 'M\tdate\t%s\nM\thost\t%s\nM\tkernel\t%s\nM\tcpus\t%s\n' \
            "$(date -Iseconds)" "$(hostname)" "$(uname -r)" "$(nproc)"
        printf 'M\tcpu_model\t%s\nM\tload_average\t%s\n' \
            "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)" \
            "$(cut -d ' ' -f 1-3 /proc/loadavg)"
        printf 'M\trounds\t%s\nM\tduration\t%s\nM\twarmup\t%s\n' "$rounds" "$DURATION" "$WARMUP"
        printf 'M\tserver_cpu\t%s\nM\tclient_cpu\t%s\n' "$SERVER_CPU" "$CLIENT_CPU"
        for wl in "${WORKLOADS[@]}"; do
            printf 'W\t%s\t%s\t%s\n' "$wl" "${WL_TITLE[$wl]}" "${WL_ARGS[$wl]}"
        done
        for row in "${ROWS[@]}"; do
            printf 'S\t%s\t%s\t%s\t%s\t%s\n' "$row" "${ROW_STAGE[$row]}" \
                "${ROW_PROTO[$row]}" "${ROW_ARGS[$row]}" "${ROW_REF[$row]}"
        done
    } >"$tsv"

    for (( r = 1; r <= rounds; r++ )); do
        for (( w = 0; w < ${#WORKLOADS[@]}; w++ )); do
            wl=${WORKLOADS[w]}
            for (( i = 0; i < n; i++ )); do
                row=${ROWS[(i + r - 1 + w) % n]}
                [[ -n ${FAILED["$wl $row"]:-} ]] && continue
                bench_run "$r" "$wl" "$row" >>"$tsv"
            done
        done
        log "bench: round $r of $rounds done, $(( SECONDS - STARTED )) s (load average $(cut -d ' ' -f 1 /proc/loadavg))"
    done
    mkdir -p "$RESULTS"
    cp "$tsv" "$RESULTS/runs.tmp"      # the raw run table, if anything below fails
}

cmd_bench()
{
    load_rows
    local tsv=$TMP/runs.tsv
    STARTED=$SECONDS
    (( ${#ROWS[@]} > 0 )) || die "no server to measure"
    log "bench: ${#ROWS[@]} servers x ${#WORKLOADS[@]} workloads x $ROUNDS rounds" \
        "of ${DURATION}s (+${WARMUP}s warm-up); server on CPU $SERVER_CPU, client on CPU $CLIENT_CPU"
    run_rounds "$tsv" "$ROUNDS"

    awk -F '\t' -v json="$TMP/latest.json" -v plotdata="$TMP/plot.dat" \
        -v plotinc="$TMP/plot.inc" -f "$HERE/stats.awk" -f "$HERE/report.awk" "$tsv" ||
        die "report.awk failed; the run table is in results/runs.tmp"
    save_result latest.json bench
    gnuplot -e "datafile='$TMP/plot.dat'; incfile='$TMP/plot.inc'; outfile='$RESULTS/throughput.png'" \
        "$HERE/plot.gp" || log "bench: gnuplot failed"
    echo
    echo "results: ${RESULTS#"$ROOT"/}/latest.json, ${RESULTS#"$ROOT"/}/throughput.png" \
         "($(( SECONDS - STARTED )) s)"
}

# ---- bench-sweep ----------------------------------------------------------

# Ping-pong at every size of SWEEP_SIZES, 100 connections with one message
# in flight each: the server's CPU per message, user and system apart,
# against the floor's (peer_epoll: no framework, no copy in user space).
cmd_sweep()
{
    sweep_rows
    local tsv=$TMP/sweep.tsv size
    STARTED=$SECONDS
    WORKLOADS=()
    for size in $SWEEP_SIZES; do
        WORKLOADS+=("$size")
        WL_ARGS[$size]="-c 100 -k 1 -s $size"
        WL_TITLE[$size]="ping-pong: 100 connections x $size B, 1 in flight"
    done
    log "bench-sweep: ${#ROWS[@]} servers x ${#WORKLOADS[@]} sizes x $SWEEP_ROUNDS rounds" \
        "of ${DURATION}s (+${WARMUP}s warm-up); server on CPU $SERVER_CPU, client on CPU $CLIENT_CPU"
    run_rounds "$tsv" "$SWEEP_ROUNDS"

    awk -F '\t' -v json="$TMP/sweep.json" -v plotdata="$TMP/sweep.dat" \
        -v plotinc="$TMP/sweep.inc" -f "$HERE/stats.awk" -f "$HERE/sweep.awk" "$tsv" ||
        die "sweep.awk failed; the run table is in results/runs.tmp"
    save_result sweep.json sweep
    gnuplot -e "datafile='$TMP/sweep.dat'; incfile='$TMP/sweep.inc'; outfile='$RESULTS/sweep.png'" \
        "$HERE/sweep.gp" || log "bench-sweep: gnuplot failed"
    echo
    echo "results: ${RESULTS#"$ROOT"/}/sweep.json, ${RESULTS#"$ROOT"/}/sweep.png" \
         "($(( SECONDS - STARTED )) s)"
}

# ---- bench-client ---------------------------------------------------------

# client_run CLIENT LINES OUT: one run of a stage's client against the
# running server, pinned to CLIENT_CPU; prints "wall user sys" in seconds.
# False unless it exits 0 and prints one reply per line.
client_run()
{
    local TIMEFORMAT='%3R %3U %3S' rc
    { time taskset -c "$CLIENT_CPU" "$1" 127.0.0.1 "$SRV_PORT" <"$2" >"$3" \
          2>"$TMP/client.err"; } 2>"$TMP/client.time"
    rc=$?
    (( rc == 0 )) || { log "bench-client: $1 exited with $rc: $(head -n 1 "$TMP/client.err")"; return 1; }
    [[ $(wc -l <"$3") == "$CLIENT_LINES" ]] ||
        { log "bench-client: $1 printed $(wc -l <"$3") lines, not $CLIENT_LINES"; return 1; }
    cat "$TMP/client.time"
}

# The two clients of the framed protocol, each CLIENT_ROUNDS times in
# turn, against step10's server (-t 0), fresh for each run: step09's
# client waits for each reply before it sends the next line; step10's
# sends every line as it reads it and prints replies as they come. Both
# must print the same lines. Wall time and the client's CPU, medians.
cmd_client()
{
    local lines=$TMP/lines.txt r c t wall user sys first='' order
    local clients=(09 10) stage
    declare -A BIN WALLS USERS SYSS
    STARTED=$SECONDS
    add_row client-server "$ROOT/step10_timer/server" framed "-t 0" step10_timer
    for c in "${clients[@]}"; do
        stage=$(ls -d "$ROOT"/step"$c"_* | head -n 1)
        BIN[$c]=$stage/client
        [[ -x ${BIN[$c]} ]] || die "no client in $stage"
        WALLS[$c]='' USERS[$c]='' SYSS[$c]=''
    done
    awk -v n="$CLIENT_LINES" 'BEGIN { for (i = 1; i <= n; i++) printf "line %d of the client bench\n", i }' >"$lines"
    log "bench-client: $CLIENT_LINES lines, clients of steps ${clients[*]} x $CLIENT_ROUNDS rounds;" \
        "server (step10 -t 0) on CPU $SERVER_CPU, client on CPU $CLIENT_CPU"
    for (( r = 1; r <= CLIENT_ROUNDS; r++ )); do
        order=("${clients[@]}")
        (( r % 2 == 0 )) && order=(10 09)       # each goes first in turn
        for c in "${order[@]}"; do
            server_start client-server || die "step10's server: $SRV_NOTE"
            t=$(client_run "${BIN[$c]}" "$lines" "$TMP/out-$c.txt") || die "client of step$c failed"
            server_stop
            read -r wall user sys <<<"$t"
            WALLS[$c]+=" $wall" USERS[$c]+=" $user" SYSS[$c]+=" $sys"
            if [[ -z $first ]]; then
                first=$TMP/out-$c.txt
            else
                cmp -s "$first" "$TMP/out-$c.txt" || die "the clients' outputs differ"
            fi
        done
        log "bench-client: round $r of $CLIENT_ROUNDS done, $(( SECONDS - STARTED )) s"
    done

    median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
    local w09 w10 u09 u10 s09 s10
    w09=$(median <<<"${WALLS[09]}") w10=$(median <<<"${WALLS[10]}")
    u09=$(median <<<"${USERS[09]}") u10=$(median <<<"${USERS[10]}")
    s09=$(median <<<"${SYSS[09]}") s10=$(median <<<"${SYSS[10]}")
    printf '\n%s lines through step10'"'"'s server, medians of %s rounds (seconds)\n\n' \
        "$CLIENT_LINES" "$CLIENT_ROUNDS"
    printf '%-30s %10s %10s %10s   %s\n' client wall user sys "every run (wall)"
    printf '%-30s %10s %10s %10s  %s\n' "step09 (blocking)" "$w09" "$u09" "$s09" "${WALLS[09]}"
    printf '%-30s %10s %10s %10s  %s\n' "step10 (pipelining)" "$w10" "$u10" "$s10" "${WALLS[10]}"
    printf '\nstep09 / step10, wall time: %s\n' "$(awk -v a="$w09" -v b="$w10" 'BEGIN { printf "%.1f", a / b }')"
    printf '{"date":"%s","lines":%s,"rounds":%s,"server":"step10_timer -t 0","clients":{' \
        "$(date -Iseconds)" "$CLIENT_LINES" "$CLIENT_ROUNDS" >"$TMP/client.json"
    printf '"step09":{"wall_s":%s,"user_s":%s,"sys_s":%s,"walls":[%s]},' \
        "$w09" "$u09" "$s09" "$(sed 's/^ //; s/ /,/g' <<<"${WALLS[09]}")" >>"$TMP/client.json"
    printf '"step10":{"wall_s":%s,"user_s":%s,"sys_s":%s,"walls":[%s]}},' \
        "$w10" "$u10" "$s10" "$(sed 's/^ //; s/ /,/g' <<<"${WALLS[10]}")" >>"$TMP/client.json"
    printf '"ratio_wall":%s}\n' "$(awk -v a="$w09" -v b="$w10" 'BEGIN { printf "%.2f", a / b }')" \
        >>"$TMP/client.json"
    save_result client.json client
    echo
    echo "results: ${RESULTS#"$ROOT"/}/client.json ($(( SECONDS - STARTED )) s)"
}

# ---- bench-idle -----------------------------------------------------------

cmd_idle()
{
    load_rows
    raise_nofile $(( IDLE_CONNS + 100 ))
    local row rss0 rss1 per status note
    printf '%s idle connections (one round trip each): server VmRSS\n\n' "$IDLE_CONNS"
    printf '%-14s %-7s %12s %12s %14s\n' server proto "before KiB" "after KiB" "bytes/conn"
    servers_json_open idle "\"connections\":$IDLE_CONNS"

    for row in "${ROWS[@]}"; do
        rss0=null rss1=null per=null status=fail note=''
        if server_start "$row"; then
            rss0=$(vmrss_kib "$SRV_PID")
            : >"$TMP/hold.out"
            run_load "$row" --hold -c "$IDLE_CONNS" -s 64 --timeout 30 \
                >"$TMP/hold.out" 2>"$TMP/load.err" &
            BG_PID=$!
            if wait_for '^ready' "$TMP/hold.out" "$BG_PID" 120; then
                sleep 0.5               # let the server finish its round trips
                rss1=$(vmrss_kib "$SRV_PID")
                per=$(( (rss1 - rss0) * 1024 / IDLE_CONNS ))
                status=ok
            else
                note=$(head -n 1 "$TMP/load.err")
                rss0=null
            fi
            bg_stop TERM
            server_stop
            note+="${SRV_NOTE:+; $SRV_NOTE}"
        else
            note=$SRV_NOTE
        fi
        [[ $status == ok ]] ||
            report_failure "$row" "$note" "$row" --hold -c "$IDLE_CONNS" -s 64
        printf '%-14s %-7s %12s %12s %14s\n' "$row" "${ROW_PROTO[$row]}" \
            "${rss0/null/-}" "${rss1/null/-}" "${per/null/FAIL}"
        servers_json_add idle "$row" "$status" \
            "\"rss_before_kib\":$rss0,\"rss_after_kib\":$rss1,\"bytes_per_conn\":$per"
    done
    servers_json_save idle
}

# ---- bench-syscalls -------------------------------------------------------

# strace_summary FILE MESSAGES: from the table of strace -c -S calls, the
# syscalls per message, the top four (text) and the top eight (JSON),
# separated by tabs.
strace_summary()
{
    awk -v msgs="$2" '
        $1 ~ /^-+$/ { rule++; next }
        rule == 1 && NF >= 5 {          # calls is field 4, the name the last
            if (ntop < 4)
                top = top sprintf("%s%s %.2f", ntop++ ? ", " : "", $NF, $4 / msgs)
            if (njson++ < 8)
                json = json sprintf("%s\"%s\":%.4f", njson > 1 ? "," : "", $NF, $4 / msgs)
        }
        $NF == "total" { total = $4 }
        END { printf "%.3f\t%s\t{%s}\n", total / msgs, top, json }
    ' "$1"
}

cmd_syscalls()
{
    load_rows
    local row per top calls status note conns=10
    local msgs=$(( conns * SYSCALL_MSGS ))
    local args=(-c "$conns" -k 16 -s 16 -n "$SYSCALL_MSGS" --timeout 30)
    printf 'pipelined workload (%s connections x 16 B, 16 in flight), %s messages, strace -f -c\n\n' \
        "$conns" "$msgs"
    printf '%-14s %-7s %12s   %s\n' server proto "syscalls/msg" "top syscalls (calls per message)"
    servers_json_open syscalls "\"messages\":$msgs"

    for row in "${ROWS[@]}"; do
        status=fail per=null calls='{}' top='' note=''
        if server_start "$row"; then
            : >"$TMP/strace.err"
            strace -f -c -S calls -o "$TMP/strace.out" -p "$SRV_PID" 2>"$TMP/strace.err" &
            BG_PID=$!
            if wait_for 'attached' "$TMP/strace.err" "$BG_PID" 10 &&
               (run_load "$row" "${args[@]}") >/dev/null 2>"$TMP/load.err"; then
                status=ok
            fi
            bg_stop INT                 # strace prints its table on SIGINT
            server_stop
            note="$(cat "$TMP/load.err" "$TMP/strace.err" | head -n 2 | tr '\n' ' ')${SRV_NOTE:+; $SRV_NOTE}"
        else
            note=$SRV_NOTE
        fi
        if [[ $status == ok ]]; then
            IFS=$'\t' read -r per top calls < <(strace_summary "$TMP/strace.out" "$msgs")
        else
            report_failure "$row" "$note" "$row" "${args[@]}"
        fi
        printf '%-14s %-7s %12s   %s\n' "$row" "${ROW_PROTO[$row]}" "${per/null/FAIL}" "$top"
        servers_json_add syscalls "$row" "$status" "\"syscalls_per_msg\":$per,\"per_msg\":$calls"
    done
    servers_json_save syscalls
}

case ${1:-} in
bench)          cmd_bench ;;
bench-idle)     cmd_idle ;;
bench-syscalls) cmd_syscalls ;;
bench-sweep)    cmd_sweep ;;
bench-client)   cmd_client ;;
*)              die "usage: run.sh bench|bench-idle|bench-syscalls|bench-sweep|bench-client" ;;
esac
