# extract.awk - turns one note (Markdown) into a cram test on standard output.
#
#   awk -v note=notes/step05_eventloop.md -f tests/notes/extract.awk notes/step05_eventloop.md
#
# A transcript is a fenced block whose info string is "console": lines that
# start with "$ " are commands, every other line is the output expected
# from the command above it, compared by cram (a line ending in " (re)" is a
# regular expression, " (glob)" a glob, "[N]" an exit status N). The lines
# of a here-document (cat > f <<'EOF' ... EOF) are input, not output.
# A console block right after a line "<!-- skip: REASON -->" is not run.
#
# Every block becomes a cram section headed by "NOTE:LINE" (the line of its
# opening fence), all of them in one shell, in order, as a reader would type
# them. The test starts in the repository's root ($NOTES_ROOT) and ends by
# stopping whatever the transcripts left running in the background.
# A "$ " line outside a console block is an error (exit 1): a transcript
# that is not checked would drift. Counts go to the file named by -v counts:
# "checked N", "skipped N", and one "skip LINE REASON" line per skipped block.
BEGIN {
    fence = ""; mode = ""; heredoc = ""; skip = ""; checked = 0; skipped = 0; bad = 0
    print "The transcripts of " note ", checked by tests/notes/run.sh."
    print ""
    print "  $ cd \"$NOTES_ROOT\""
}
function fail(msg) {
    printf "%s:%d: %s\n", note, FNR, msg > "/dev/stderr"
    bad = 1
}
fence == "" && /^<!-- skip: .* -->$/ {
    skip = $0; sub(/^<!-- skip: /, "", skip); sub(/ -->$/, "", skip)
    next
}
fence == "" && /^```/ {
    fence = "```"; info = substr($0, 4)
    if (info == "console" && skip != "") {
        mode = "skip"; skipped++
        printf "skip %d %s\n", FNR, skip >> counts
    } else if (info == "console") {
        mode = "run"; checked++
        print ""; printf "%s:%d\n", note, FNR; print ""
    } else {
        mode = "other"
    }
    skip = ""
    next
}
fence != "" && /^```$/ { fence = ""; mode = ""; next }
fence != "" && mode == "run" {
    if (heredoc != "") {
        print "  > " $0
        if ($0 == heredoc) heredoc = ""
        next
    }
    print "  " $0
    if ($0 ~ /^\$ / && match($0, /<<-?[ ]*['"]?[A-Za-z_][A-Za-z_0-9]*/)) {
        heredoc = substr($0, RSTART, RLENGTH); sub(/^<<-?[ ]*['"]?/, "", heredoc)
    }
    next
}
fence != "" && mode == "other" && /^\$ / { fail("a transcript outside a ```console block") }
fence != "" { next }
/^    \$ / { fail("an indented transcript: use a ```console block") }
NF > 0 { skip = "" }
END {
    if (fence != "") fail("an unclosed fence")
    if (heredoc != "") fail("an unterminated here-document")
    print ""
    print "Stop what the transcripts left running."
    print ""
    print "  $ kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; true"
    printf "checked %d\nskipped %d\n", checked, skipped >> counts
    exit bad
}
