# report.awk - turns the run table of `run.sh bench` into the terminal
# table, the JSON result and the data of the plot. POSIX awk (mawk is fine).
#
# Input, tab-separated, one record a line:
#   M key value                                  metadata
#   W workload title load-arguments              workloads, in order
#   S server stage proto args reference          servers, in order
#   R round workload server status msgs_per_s mib_per_s p50 p99 p999
#     cpu_us_per_msg user_us_per_msg sys_us_per_msg errors note
#                                                one run
# Variables: json, plotdata, plotinc (output files).
#
# Per workload and server: medians over the successful rounds (CPU per
# message also split into user and system time), min-max of throughput and
# CPU per message, and the ratio to the reference server
# (libevent in the same protocol) as the median of the per-round ratios,
# each taken between two runs of the same round.

$1 == "M" { meta[$2] = $3; metan++; metak[metan] = $2 }
$1 == "W" { nw++; wl[nw] = $2; title[$2] = $3; wargs[$2] = $4 }
$1 == "S" {
    ns++; sv[ns] = $2; stage[$2] = $3; proto[$2] = $4; sargs[$2] = $5
    ref[$2] = $6
}
$1 == "R" {
    k = $3 SUBSEP $4
    nr++
    run[nr] = $0
    if ($2 > maxround)
        maxround = $2
    if ($5 != "ok") {
        fails[k]++
        if (!(k in note))
            note[k] = $15
        next
    }
    ok[k, $2] = 1
    tput[k, $2] = $6; mib[k, $2] = $7
    p50[k, $2] = $8; p99[k, $2] = $9; p999[k, $2] = $10
    if ($11 != "" && $11 != "null")
        cpu[k, $2] = $11
    if ($12 != "" && $12 != "null") {
        usr[k, $2] = $12; sys[k, $2] = $13
    }
}

# Fills the summary S[] of server s in workload w.
function summarize(w, s,    k, rk, c, n) {
    delete S
    k = w SUBSEP s
    rk = w SUBSEP ref[s]
    n = collect(tput, k, "", c); S["n"] = n
    S["tput"] = median(c, n); S["tmin"] = n ? lo(c, n) : ""; S["tmax"] = n ? hi(c, n) : ""
    n = collect(mib, k, "", c);  S["mib"] = median(c, n)
    n = collect(p50, k, "", c);  S["p50"] = median(c, n)
    n = collect(p99, k, "", c);  S["p99"] = median(c, n)
    n = collect(p999, k, "", c); S["p999"] = median(c, n)
    n = collect(cpu, k, "", c)
    S["cpu"] = median(c, n); S["cmin"] = n ? lo(c, n) : ""; S["cmax"] = n ? hi(c, n) : ""
    n = collect(usr, k, "", c);  S["usr"] = median(c, n)
    n = collect(sys, k, "", c);  S["sys"] = median(c, n)
    n = collect(tput, k, rk, c); S["tratio"] = median(c, n)
    n = collect(cpu, k, rk, c);  S["cratio"] = median(c, n)
    S["fails"] = fails[k] + 0
    S["note"] = (k in note) ? note[k] : ""
}

END {
    printf "\n%s rounds of %s s per run; medians, min-max over rounds; " \
           "x ref = median of per-round ratios to libevent (same protocol)\n",
           meta["rounds"], meta["duration"]

    printf "{" > json
    for (i = 1; i <= metan; i++)
        printf "%s:%s,", jstr(metak[i]), \
            (meta[metak[i]] ~ /^[0-9.]+$/ ? meta[metak[i]] : jstr(meta[metak[i]])) > json
    printf "\"reference\":\"libevent in the same protocol\",\"workloads\":[" > json

    printf "nworkloads = %d\narray titles[%d]\n", nw, nw > plotinc

    for (i = 1; i <= nw; i++) {
        w = wl[i]
        printf "\n%s  (load %s)\n", title[w], wargs[w]
        printf "%-12s %-6s %9s %-19s %5s %8s %8s %8s %8s %8s %-17s %5s %7s %7s\n",
            "server", "proto", "msg/s", " (min-max)", "x ref", "MiB/s",
            "p50 us", "p99 us", "p999 us", "cpu us", " (min-max)", "x ref",
            "user", "system"
        printf "%s{\"name\":%s,\"title\":%s,\"load_args\":%s,\"servers\":[",
            (i > 1 ? "," : ""), jstr(w), jstr(title[w]), jstr(wargs[w]) > json
        printf "titles[%d] = %s\n", i, jstr(title[w]) > plotinc

        x = 0
        for (j = 1; j <= ns; j++) {
            s = sv[j]
            summarize(w, s)
            if (S["n"] == 0) {
                printf "%-12s %-6s %9s  FAIL: %s\n", s, proto[s], "-", S["note"]
            } else {
                printf "%-12s %-6s %9.0f %-19s %5s %8.1f %8.1f %8.1f %8.1f %8s %-17s %5s %7s %7s\n",
                    s, proto[s], S["tput"],
                    sprintf(" (%.0f-%.0f)", S["tmin"], S["tmax"]),
                    cell(S["tratio"], "%.2f"), S["mib"], S["p50"], S["p99"], S["p999"],
                    cell(S["cpu"], "%.2f"),
                    S["cpu"] == "" ? "" : sprintf(" (%.2f-%.2f)", S["cmin"], S["cmax"]),
                    cell(S["cratio"], "%.2f"), cell(S["usr"], "%.2f"), cell(S["sys"], "%.2f")
            }
            if (S["n"] > 0 && S["fails"] > 0)
                printf "%-12s   %d failed run(s): %s\n", "", S["fails"], S["note"]
            printf "%s{\"name\":%s,\"stage\":%s,\"proto\":%s,\"args\":%s," \
                   "\"ok_runs\":%d,\"failed_runs\":%d,\"failure\":%s," \
                   "\"msgs_per_s\":{\"median\":%s,\"min\":%s,\"max\":%s}," \
                   "\"ratio_libevent\":%s,\"mib_per_s\":%s,\"p50_us\":%s," \
                   "\"p99_us\":%s,\"p999_us\":%s," \
                   "\"cpu_us_per_msg\":{\"median\":%s,\"min\":%s,\"max\":%s}," \
                   "\"user_us_per_msg\":%s,\"sys_us_per_msg\":%s," \
                   "\"cpu_ratio_libevent\":%s}",
                (j > 1 ? "," : ""), jstr(s), jstr(stage[s]), jstr(proto[s]), jstr(sargs[s]),
                S["n"], S["fails"], S["note"] == "" ? "null" : jstr(S["note"]),
                num(S["tput"], "%.1f"), num(S["tmin"], "%.1f"), num(S["tmax"], "%.1f"),
                num(S["tratio"], "%.4f"), num(S["mib"], "%.2f"), num(S["p50"], "%.1f"),
                num(S["p99"], "%.1f"), num(S["p999"], "%.1f"),
                num(S["cpu"], "%.4f"), num(S["cmin"], "%.4f"), num(S["cmax"], "%.4f"),
                num(S["usr"], "%.4f"), num(S["sys"], "%.4f"),
                num(S["cratio"], "%.4f") > json

            # Plot: one point per stage; the peers of the stage's protocol
            # as reference values.
            if (stage[s] ~ /^peer_/)
                continue
            tp = S["tput"]; tl = S["tmin"]; th = S["tmax"]
            split("", refv)
            for (m = 1; m <= ns; m++) {
                p = sv[m]
                if (stage[p] ~ /^peer_/ && proto[p] == proto[s]) {
                    summarize(w, p)
                    refv[stage[p]] = S["tput"]
                }
            }
            printf "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", x++, s,
                tp == "" ? "NaN" : tp, tl == "" ? "NaN" : tl, th == "" ? "NaN" : th,
                refv["peer_libevent"] == "" ? "NaN" : refv["peer_libevent"],
                refv["peer_libuv"] == "" ? "NaN" : refv["peer_libuv"] > plotdata
        }
        printf "]}" > json
        printf "\n\n" > plotdata
    }

    printf "],\"runs\":[" > json
    for (i = 1; i <= nr; i++) {
        split(run[i], f, "\t")
        printf "%s{\"round\":%d,\"workload\":%s,\"server\":%s,\"status\":%s," \
               "\"msgs_per_s\":%s,\"mib_per_s\":%s,\"p50_us\":%s,\"p99_us\":%s," \
               "\"p999_us\":%s,\"cpu_us_per_msg\":%s,\"user_us_per_msg\":%s," \
               "\"sys_us_per_msg\":%s,\"errors\":%s,\"note\":%s}",
            (i > 1 ? "," : ""), f[2], jstr(f[3]), jstr(f[4]), jstr(f[5]),
            num(f[6], "%s"), num(f[7], "%s"), num(f[8], "%s"), num(f[9], "%s"),
            num(f[10], "%s"), f[11] == "null" ? "null" : num(f[11], "%s"),
            f[12] == "null" ? "null" : num(f[12], "%s"),
            f[13] == "null" ? "null" : num(f[13], "%s"),
            num(f[14], "%s"), f[15] == "" ? "null" : jstr(f[15]) > json
    }
    printf "]}\n" > json
}
