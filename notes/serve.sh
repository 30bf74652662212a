# notes/serve.sh - helpers for following the notes in a shell (bash).
# Source it once, from the repository's root:  . notes/serve.sh
#
# serve PROGRAM ARGS...  starts a server in the background, waits until it
#     listens and prints its start-up line. Sets S (its pid), PORT (the port
#     it bound: use port 0 and let the kernel choose) and ERR (a file that
#     collects its standard error: cat $ERR). A server that exits before it
#     listens returns its exit status, and its error line is printed.
# stop [PID]  sends SIGTERM to the server (default $S) and waits for it;
#     prints "exit N" where N is its status (143 = killed by SIGTERM).
serve() {
    local out
    out=$(mktemp) && ERR=$(mktemp) || return 1
    "$@" >"$out" 2>"$ERR" &
    S=$!
    until [ -s "$out" ] || ! kill -0 "$S" 2>/dev/null; do sleep 0.02; done
    if ! [ -s "$out" ]; then
        wait "$S"; local rc=$?
        cat "$ERR" >&2; rm -f "$out"
        return $rc
    fi
    cat "$out"
    PORT=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$out")
    rm -f "$out"
}

stop() {
    local pid=${1:-$S}
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    echo "exit $?"
}
