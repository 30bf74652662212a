# matrix.awk - prints the behaviour matrix of one build from harness
# results files (build/results/BUILD/COLUMN.tsv: scenario TAB result TAB msg).
#
#   awk -F'\t' -v build=normal -v cols="01 02 02-et" \
#       -v scenarios="startup bad_args ..." -f tests/matrix.awk FILES...
#
# One row per scenario (in the harness's order), one column per column of
# the stage table; a missing result prints as "?".

FNR == 1 {
    col = FILENAME
    sub(/.*\//, "", col)
    sub(/\.tsv$/, "", col)
}

{ cell[$1, col] = $2 }

END {
    ncols = split(cols, c, " ")
    nrows = split(scenarios, s, " ")
    width = 20
    for (i = 1; i <= nrows; i++)
        if (length(s[i]) > width)
            width = length(s[i])

    printf "\n== %s ==\n%-" width "s", build, "scenario"
    for (j = 1; j <= ncols; j++)
        printf " %-8s", c[j]
    printf "\n"
    for (i = 1; i <= nrows; i++) {
        printf "%-" width "s", s[i]
        for (j = 1; j <= ncols; j++) {
            v = ((s[i], c[j]) in cell) ? cell[s[i], c[j]] : "?"
            printf " %-8s", v
        }
        printf "\n"
    }
}
