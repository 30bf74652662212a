#!/usr/bin/env python3
"""accept.py - writes the output that the transcripts of a note really gave
back into the note, as cram -i does for a .t file.

    python3 tests/notes/accept.py notes/step05_eventloop.md

Reads build/notes/NAME.t.err (left by tests/notes/run.sh after a failed
run: the real output of every command) and replaces each transcript's body
in the note with it, except that an expected line that still matches its
real line (a pattern, with cram's own matchers) is kept as it is. Review the
result with git diff before committing: a line that varies from run to run
needs a pattern, not today's value.
"""
import os
import re
import sys

try:
    from cram._diff import esc, glob, regex
except ImportError:                       # Debian puts it here, python3 may be another
    sys.path.append("/usr/lib/python3/dist-packages")
    from cram._diff import esc, glob, regex


def same(expected, actual):
    """Whether an expected line matches a real one, as cram decides."""
    if expected == actual:
        return True
    e, a = expected.encode() + b'\n', actual.encode() + b'\n'
    return any(m(e, a) for m in (esc, glob, regex))


def merge(expected, actual):
    """The real lines, with each matching expected line in place of its
    real one (a longest common subsequence under same())."""
    n, m = len(expected), len(actual)
    lcs = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            lcs[i][j] = (lcs[i + 1][j + 1] + 1 if same(expected[i], actual[j])
                         else max(lcs[i + 1][j], lcs[i][j + 1]))
    out, i, j = [], 0, 0
    while j < m:
        if i < n and same(expected[i], actual[j]):
            out.append(expected[i]); i += 1; j += 1
        elif i < n and lcs[i + 1][j] >= lcs[i][j + 1]:
            i += 1
        else:
            out.append(actual[j]); j += 1
    return out


def blocks_of_err(path):
    """{note line of the opening fence: [(command lines, output lines)]}
    from a .t.err file; a command's lines are its "$ " line and its "> "
    continuation lines (here-documents included), without the prefix."""
    blocks, groups = {}, None
    for raw in open(path, encoding='utf-8', errors='surrogateescape'):
        raw = raw.rstrip('\n')
        m = re.match(r'^notes/[^:]+:(\d+)$', raw)
        if m:
            groups = blocks[int(m.group(1))] = []
            continue
        if raw.startswith('Stop what the transcripts left running.'):
            groups = None
            continue
        if groups is None or not raw.startswith('  '):
            continue
        text = raw[2:]
        if text.startswith('$ '):
            groups.append(([text], []))
        elif text.startswith('> ') and groups and not groups[-1][1]:
            groups[-1][0].append(text[2:])
        elif groups:
            groups[-1][1].append(text)
    return blocks


def groups_of_note(lines):
    """The same grouping for a block of the note, where a command's
    continuation is a here-document's body or a "> " line."""
    groups, heredoc = [], None
    for line in lines:
        if heredoc is not None:
            groups[-1][0].append(line)
            if line == heredoc:
                heredoc = None
        elif line.startswith('$ '):
            groups.append(([line], []))
            m = re.search(r"<<-?[ ]*['\"]?([A-Za-z_][A-Za-z_0-9]*)", line)
            if m:
                heredoc = m.group(1)
        elif line.startswith('> ') and groups and not groups[-1][1]:
            groups[-1][0].append(line)
        elif groups:
            groups[-1][1].append(line)
    return groups


def main():
    note = sys.argv[1]
    name = os.path.basename(note)[:-3]
    err = os.path.join('build', 'notes', name + '.t.err')
    if not os.path.exists(err):
        sys.exit('accept: no %s (the note passed, or was not run)' % err)
    blocks = blocks_of_err(err)
    lines = open(note, encoding='utf-8').read().split('\n')
    for start in sorted(blocks, reverse=True):
        i = start - 1                      # the opening fence, 0-based
        assert lines[i] == '```console', (note, start, lines[i])
        j = i + 1
        while lines[j] != '```':
            j += 1
        mine, real = groups_of_note(lines[i + 1:j]), blocks[start]
        if [g[0][0] for g in mine] != [g[0][0] for g in real]:
            sys.exit('accept: %s:%d: the commands changed since the run; run it again'
                     % (note, start))
        body = []
        for (command, expected), (_, actual) in zip(mine, real):
            body += command + merge(expected, actual)
        lines[i + 1:j] = body
    open(note, 'w', encoding='utf-8').write('\n'.join(lines))


main()
