# stats.awk - the helpers that report.awk and sweep.awk share: medians,
# per-round collections (optionally as ratios to a reference server) and
# cell formatting. Loaded before either: awk -f stats.awk -f report.awk.
# Both keep their rounds in arrays indexed [key, round], and set maxround.

# Median of the n values a[1..n]; "" when n is 0.
function median(a, n,    b, i, j, t) {
    if (n == 0)
        return ""
    for (i = 1; i <= n; i++)
        b[i] = a[i] + 0
    for (i = 2; i <= n; i++)
        for (j = i; j > 1 && b[j - 1] > b[j]; j--) {
            t = b[j]; b[j] = b[j - 1]; b[j - 1] = t
        }
    return n % 2 ? b[(n + 1) / 2] : (b[n / 2] + b[n / 2 + 1]) / 2
}

# Collects the rounds' values of metric m (an array indexed [key, round])
# into col[1..], optionally divided by the reference's; returns the count.
function collect(m, k, rk, col,    r, n) {
    n = 0
    for (r = 1; r <= maxround; r++) {
        if (!((k, r) in m))
            continue
        if (rk != "") {
            if (!((rk, r) in m) || m[rk, r] + 0 <= 0)
                continue
            col[++n] = m[k, r] / m[rk, r]
        } else {
            col[++n] = m[k, r]
        }
    }
    return n
}

function lo(a, n,    i, v) { v = a[1]; for (i = 2; i <= n; i++) if (a[i] + 0 < v + 0) v = a[i]; return v }
function hi(a, n,    i, v) { v = a[1]; for (i = 2; i <= n; i++) if (a[i] + 0 > v + 0) v = a[i]; return v }

function num(x, fmt) { return x == "" ? "null" : sprintf(fmt, x) }
function cell(x, fmt) { return x == "" ? "-" : sprintf(fmt, x) }
function jstr(s) { gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); return "\"" s "\"" }
