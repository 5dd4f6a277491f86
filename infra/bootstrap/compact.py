"""Rendered node scripts without what only a reader needs, so they fit AWS's 16 KiB of user-data.

The templates keep their comments and indentation; the rendered script drops full-line
comments after its opening comment block (shellcheck directives stay), blank lines and
leading indentation. Bash gives neither any meaning, except inside a heredoc body or a
quoted string that spans lines: those lines are kept byte for byte. (A script and its
compacted form define the same commands: ``tests/unit/test_bootstrap_compact.py`` compares
what bash parses from both.)
"""

from __future__ import annotations

import re

#: ``<<WORD``, ``<<'WORD'``, ``<<-"WORD"`` (not the ``<<<`` here-string).
_HEREDOC = re.compile(r"""(?<!<)<<(-?)\s*(['"]?)([A-Za-z_]\w*)\2""")


def compact(script: str) -> str:
    """``script`` minus comment lines (past the header), blank lines and indentation."""
    out: list[str] = []
    head, quote, heredoc = True, "", ""
    for line in script.splitlines(keepends=True):
        if heredoc or quote:  # a heredoc body or the inside of a string: verbatim
            out.append(line)
            heredoc = "" if heredoc and line.strip("\t\n") == heredoc else heredoc
            quote = _scan(line, quote)[0] if quote else ""
            continue
        text = line.lstrip(" \t")
        head = head and text.startswith("#")
        if head or text.startswith("# shellcheck") or (text.strip() and not text.startswith("#")):
            out.append(line if head else text)
        quote, code = _scan(text, "")
        match = _HEREDOC.search(code)
        heredoc = match.group(3) if match else ""
    return "".join(out)


def _scan(line: str, quote: str) -> tuple[str, str]:
    """The quote still open at the end of ``line`` (``""``, ``"'"`` or ``'"'``) when it starts
    inside ``quote``, and the line's code outside any comment."""
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if quote == "'":
            quote = "" if c == "'" else quote
        elif c == "\\":
            i += 1  # the escaped character
        elif quote == '"':
            quote = "" if c == '"' else quote
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or line[i - 1] in " \t;"):
            return quote, line[:i]
        i += 1
    return quote, line
