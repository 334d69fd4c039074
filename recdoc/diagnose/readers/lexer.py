"""Any line -> tokens: numbers, words, other-script runs and single punctuation marks, with the whitespace before
each. The grammar (grammar.py) reads tokens, never raw text, so every reader shares one notion of what a name, a
cut-off and a value are.

One compiled pattern consumes every character of the line exactly once (each alternative either matches at a
position or fails after a bounded look), so a line of any length tokenizes in time linear in its length: a 100 KB
token is one match, not a scan per starting position.
"""

from __future__ import annotations

import re
from typing import NamedTuple

# A sign belongs to a number only where it cannot be a joiner (`recall-50` is recall, `-`, 50; `loss: -0.5` is one
# number). `nan`/`inf` are numbers when a printed value is one, not the start of a word (`inference`).
_TOKEN_RE = re.compile(
    r"(?P<num>(?:(?<![\w.])[-+])?(?:\d+(?:\.\d*)?|(?<!\d)\.\d+)(?:[eE][-+]?\d+)?"
    r"|(?:(?<![\w.])[-+])?(?<![A-Za-z])(?:nan|inf)(?![A-Za-z]))"
    r"|(?P<word>[A-Za-z]+)"
    r"|(?P<other>[^\x00-\x7f]+)"
    r"|(?P<punct>\S)",
    re.IGNORECASE,
)


class Token(NamedTuple):
    kind: str  # 'num' | 'word' | 'other' | 'punct'
    text: str
    start: int  # offset in the line
    gap: int  # whitespace characters between the previous token and this one (0: glued)


def tokenize(line: str) -> list[Token]:
    tokens: list[Token] = []
    end = 0
    for match in _TOKEN_RE.finditer(line):
        start = match.start()
        tokens.append(Token(match.lastgroup or "punct", match.group(), start, start - end))
        end = match.end()
    return tokens
