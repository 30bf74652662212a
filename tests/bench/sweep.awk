# sweep.awk - turns the run table of `run.sh bench-sweep` into the terminal
# table, results/sweep.json and the data of the plot. POSIX awk (mawk is
# fine). The run table has the format report.awk reads (M, W, S and R
# lines); here each workload is one payload size, and each server's
# reference is the floor (peer_epoll).
#
# Per size and server: medians over the successful rounds of msg/s and of
# CPU per message, user and system apart; the ratio to the floor as the
# median of the per-round ratios (both runs of a ratio were seconds apart).
# Variables: json, plotdata, plotinc (output files).

$1 == "M" { meta[$2] = $3; metan++; metak[metan] = $2 }
$1 == "W" { nw++; wl[nw] = $2 }
$1 == "S" { ns++; sv[ns] = $2; stage[$2] = $3; sargs[$2] = $5; ref[$2] = $6 }
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
    tput[k, $2] = $6
    if ($11 != "" && $11 != "null") {
        cpu[k, $2] = $11; usr[k, $2] = $12; sys[k, $2] = $13
    }
}

# "4K" -> 4096, "1M" -> 1048576.
function bytes(s) {
    if (s ~ /[Kk]$/) return substr(s, 1, length(s) - 1) * 1024
    if (s ~ /[Mm]$/) return substr(s, 1, length(s) - 1) * 1048576
    return s + 0
}

# Fills S[] for server s at size w.
function summarize(w, s,    k, rk, c, n) {
    delete S
    k = w SUBSEP s
    rk = ref[s] == s ? "" : w SUBSEP ref[s]
    n = collect(tput, k, "", c); S["n"] = n; S["tput"] = median(c, n)
    S["tmin"] = n ? lo(c, n) : ""; S["tmax"] = n ? hi(c, n) : ""
    n = collect(cpu, k, "", c);  S["cpu"] = median(c, n)
    S["cmin"] = n ? lo(c, n) : ""; S["cmax"] = n ? hi(c, n) : ""
    n = collect(usr, k, "", c);  S["usr"] = median(c, n)
    n = collect(sys, k, "", c);  S["sys"] = median(c, n)
    if (rk == "") {
        S["cratio"] = n ? 1 : ""; S["tratio"] = S["cratio"]
    } else {
        n = collect(cpu, k, rk, c);  S["cratio"] = median(c, n)
        n = collect(tput, k, rk, c); S["tratio"] = median(c, n)
    }
    S["fails"] = fails[k] + 0
    S["note"] = (k in note) ? note[k] : ""
}

END {
    printf "\nsize sweep: ping-pong, 100 connections, 1 in flight; %s rounds of %s s; " \
           "medians over rounds;\nx floor = median of per-round ratios to %s " \
           "(CPU per message: lower is better)\n", meta["rounds"], meta["duration"], ref[sv[1]]
    printf "\n%-6s %-9s %9s %9s %-17s %7s %7s %7s %7s\n", "size", "server", "msg/s",
        "cpu us", " (min-max)", "user", "system", "x floor", "msg/s x"

    printf "{" > json
    for (i = 1; i <= metan; i++)
        printf "%s:%s,", jstr(metak[i]), \
            (meta[metak[i]] ~ /^[0-9.]+$/ ? meta[metak[i]] : jstr(meta[metak[i]])) > json
    printf "\"reference\":%s,\"load_args\":\"-c 100 -k 1 -s SIZE\",\"sizes\":[", jstr(ref[sv[1]]) > json

    for (i = 1; i <= nw; i++) {
        w = wl[i]
        printf "%s{\"size\":%s,\"bytes\":%d,\"servers\":[", (i > 1 ? "," : ""), jstr(w), bytes(w) > json
        for (j = 1; j <= ns; j++) {
            s = sv[j]
            summarize(w, s)
            if (S["n"] == 0)
                printf "%-6s %-9s  FAIL: %s\n", w, s, S["note"]
            else
                printf "%-6s %-9s %9.0f %9s %-17s %7s %7s %7s %7s\n", w, s, S["tput"],
                    cell(S["cpu"], "%.2f"),
                    S["cpu"] == "" ? "" : sprintf(" (%.2f-%.2f)", S["cmin"], S["cmax"]),
                    cell(S["usr"], "%.2f"), cell(S["sys"], "%.2f"),
                    cell(S["cratio"], "%.2f"), cell(S["tratio"], "%.2f")
            printf "%s{\"name\":%s,\"stage\":%s,\"args\":%s,\"ok_runs\":%d," \
                   "\"failed_runs\":%d,\"failure\":%s," \
                   "\"msgs_per_s\":{\"median\":%s,\"min\":%s,\"max\":%s}," \
                   "\"cpu_us_per_msg\":{\"median\":%s,\"min\":%s,\"max\":%s}," \
                   "\"user_us_per_msg\":%s,\"sys_us_per_msg\":%s," \
                   "\"cpu_ratio_floor\":%s,\"msgs_ratio_floor\":%s}",
                (j > 1 ? "," : ""), jstr(s), jstr(stage[s]), jstr(sargs[s]),
                S["n"], S["fails"], S["note"] == "" ? "null" : jstr(S["note"]),
                num(S["tput"], "%.1f"), num(S["tmin"], "%.1f"), num(S["tmax"], "%.1f"),
                num(S["cpu"], "%.4f"), num(S["cmin"], "%.4f"), num(S["cmax"], "%.4f"),
                num(S["usr"], "%.4f"), num(S["sys"], "%.4f"),
                num(S["cratio"], "%.4f"), num(S["tratio"], "%.4f") > json
            ratio[w, s] = S["cratio"]
        }
        printf "]}" > json
        printf "\n"
    }

    # The summary: CPU per message as a multiple of the floor's.
    printf "CPU per message, x floor (median of per-round ratios)\n%-9s", "server"
    for (i = 1; i <= nw; i++)
        printf " %6s", wl[i]
    printf "\n"
    for (j = 1; j <= ns; j++) {
        printf "%-9s", sv[j]
        for (i = 1; i <= nw; i++)
            printf " %6s", cell(ratio[wl[i], sv[j]], "%.2f")
        printf "\n"
    }

    # Plot: one block per server, one line per size.
    printf "nservers = %d\narray names[%d]\n", ns, ns > plotinc
    for (j = 1; j <= ns; j++) {
        s = sv[j]
        label = s ~ /^[0-9]+$/ ? "step" s " " sargs[s] : s == ref[s] ? s " (the floor)" : s
        printf "names[%d] = %s\n", j, jstr(label) > plotinc
        for (i = 1; i <= nw; i++) {
            summarize(wl[i], s)
            printf "%d\t%s\t%s\t%s\t%s\n", bytes(wl[i]),
                S["cpu"] == "" ? "NaN" : S["cpu"], S["usr"] == "" ? "NaN" : S["usr"],
                S["sys"] == "" ? "NaN" : S["sys"],
                S["cratio"] == "" ? "NaN" : S["cratio"] > plotdata
        }
        printf "\n\n" > plotdata
    }

    printf "],\"runs\":[" > json
    for (i = 1; i <= nr; i++) {
        split(run[i], f, "\t")
        printf "%s{\"round\":%d,\"size\":%s,\"server\":%s,\"status\":%s," \
               "\"msgs_per_s\":%s,\"cpu_us_per_msg\":%s,\"user_us_per_msg\":%s," \
               "\"sys_us_per_msg\":%s,\"errors\":%s,\"note\":%s}",
            (i > 1 ? "," : ""), f[2], jstr(f[3]), jstr(f[4]), jstr(f[5]),
            num(f[6], "%s"), f[11] == "null" ? "null" : num(f[11], "%s"),
            f[12] == "null" ? "null" : num(f[12], "%s"),
            f[13] == "null" ? "null" : num(f[13], "%s"),
            num(f[14], "%s"), f[15] == "" ? "null" : jstr(f[15]) > json
    }
    printf "]}\n" > json
}
