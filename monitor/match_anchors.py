"""Automaton anchors (compile stage, pure): the literal text every match of a term or place regex starts with,
so one Aho-Corasick pass finds all candidate positions and only those are verified with the regex.
"""

from __future__ import annotations

import re
import re._parser as sre  # the stdlib's own regex parser, for the regexes the quick reader cannot read
from collections.abc import Iterable
from typing import Any

from monitor.gazetteer import BOUNDARY

_MAX_ANCHORS = 64  # literal prefixes kept per regex (alternations multiply them)
_CAPITALS = "A-ZА-ЯІЇЄҐ"  # after ``fold`` (Latin marks stripped, Ё -> Е)
_CAPITAL_START = re.compile(f"[^\\w](?=[{_CAPITALS}])")
_NON_WORD = re.compile(r"[^\w \x01]")  # spaces stay: most non-word characters are spaces
CAPITAL = "\x01"  # in ``word_text``: a word starting with a capital letter follows


def lower(text: str) -> str:
    """Lower case with the same length (positions in both strings agree)."""
    lowered = text.lower()
    return lowered if len(lowered) == len(text) else "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


def word_text(folded: str) -> str:
    """What the automaton reads: the folded text in lower case, one longer, every word start marked by the
    character before it: ``CAPITAL`` before a capitalised word, a space before any other (all non-word
    characters become spaces). Position ``i`` of the text is ``i + 1`` here."""
    return lower(_NON_WORD.sub(" ", _CAPITAL_START.sub(CAPITAL, " " + folded)))


def word_keys(anchor: str, bounded: bool, capital: bool) -> list[str]:
    """The automaton keys of an anchor, spelled as ``word_text`` spells it. A regex starting at a word boundary
    (every term and place does) gets its word-start mark, so the automaton never offers a position inside a
    word; a place spelling starting with a capital only the ``CAPITAL`` mark (lower-case words are never
    candidates for it). A bounded key of length ``n`` ending at ``end`` of ``word_text`` starts the regex at
    ``end - n + 1`` of the text (an unbounded one at ``end - n``)."""
    key = _NON_WORD.sub(" ", anchor)
    if not bounded:
        return [key]
    return [CAPITAL + key] if capital else [" " + key, CAPITAL + key]


def starts_with_capital(regex: str) -> bool:
    """Whether every match of ``regex`` starts with a capital letter ``word_text`` marks (place spellings)."""
    first = regex.removeprefix(BOUNDARY)[:1]
    return bool(first) and re.fullmatch(f"[{_CAPITALS}]", first) is not None


def _prefixes(items: Iterable[tuple[Any, Any]], acc: set[str]) -> tuple[set[str], bool]:
    """Extend the prefixes ``acc`` by the literal start of parsed regex items (lower case); the flag says
    whether the items were literal to their end (so a caller may extend further)."""
    for op, arg in items:
        if op is sre.LITERAL:
            acc = {a + chr(arg).lower() for a in acc}
        elif op in (sre.ASSERT_NOT, sre.ASSERT, sre.AT):
            continue  # zero width
        elif op is sre.SUBPATTERN:
            acc, done = _prefixes(arg[-1], acc)
            if not done:
                return acc, False
        elif op is sre.BRANCH:
            branches = [_prefixes(branch, acc) for branch in arg[1]]
            joined = set().union(*(ext for ext, _ in branches))
            if len(joined) > _MAX_ANCHORS:
                return acc, False
            acc = joined
            if not all(done for _, done in branches):
                return acc, False
        else:
            return acc, False
    return acc, True


def _group(regex: str, start: int) -> tuple[int, bool]:
    """(index after the group opening at ``start``, or the regex's end at 0; whether it has its own ``|``)."""
    depth, i, bar = 0, start, False
    while i < len(regex):
        ch = regex[i]
        if ch == "\\":
            i += 1
        elif ch == "[":
            i = regex.index("]", i + 2)
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth <= 0 and start:
                return i + 1, bar
        elif ch == "|" and depth == (1 if start else 0):
            bar = True
        i += 1
    return i, bar


def _quick_prefix(regex: str) -> str:
    """The literal prefix of a regex made of literals and (?:...)/(?i:...) groups (lower case), read without
    parsing: place spellings are mostly that, and parsing 100,000 of them costs seconds."""
    out, i, body = [], 0, regex.removeprefix(BOUNDARY)
    if _group(body, 0)[1]:
        return ""
    while i < len(body):
        if body.startswith(("(?i:", "(?:"), i):
            end, bar = _group(body, i)
            if bar or body[end : end + 1] in ("*", "?", "{", "+"):
                break
            i = body.index(":", i) + 1
            continue
        ch, step = body[i], 1
        if ch == ")":
            i += 1
            continue
        if ch == "\\" and i + 1 < len(body) and not body[i + 1].isalnum():
            ch, step = body[i + 1], 2
        elif ch in ".^$*+?{}[]|()\\":
            break
        if body[i + step : i + step + 1] in ("*", "?", "{", "+"):
            break
        out.append(ch.lower())
        i += step
    return "".join(out)


def anchors(regex: str) -> set[str]:
    """Lower-case literals one of which starts every match of ``regex`` (empty: none of 2+ letters)."""
    quick = _quick_prefix(regex)
    if len(quick) >= 2:
        return {quick}
    found, _ = _prefixes(sre.parse(regex), {""})
    return found if found and min(len(a) for a in found) >= 2 else set()
