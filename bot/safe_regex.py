"""Regular expressions that operators and admins write, run on RE2 (google-re2): time linear in the text.

Python's ``re`` backtracks: ``(a+)+$`` over thirty a's and a "!" runs for minutes, and a nickname pattern of
many ``{field}`` placeholders froze the process on a 45-character name. RE2 never backtracks, so every
pattern an operator or admin supplies (rule files, ``/set``) is compiled here and nowhere else:

* RE2 syntax (https://github.com/google/re2/wiki/Syntax). Refused, with a message saying why: backreferences
  (``\\1``, ``(?P=name)``), lookaround (``(?=…)``, ``(?!…)``, ``(?<=…)``, ``(?<!…)``), atomic groups and possessive
  quantifiers, conditionals, ``\\Z`` (write ``\\z``), inline ``(?x)``/``(?u)``/``(?a)``, repetition counts over 1000,
  and programs larger than ``MAX_MEM``.
* ``\\d``, ``\\w``, ``\\s`` and ``\\b`` are ASCII-only in RE2 (in Python they also match Chinese and full-width
  characters): write ``\\p{Han}`` for Chinese characters, ``\\p{L}`` for any letter, ``\\p{N}`` for any digit.
* Only the first ``MAX_TEXT`` characters of a text are searched, so no message, however long, buys more
  matching time than that; a text longer than ``MAX_TEXT`` never *fully* matches.

Project-written patterns (the ad detectors' own) stay on ``re``: they are reviewed code, and sre is faster
on them.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Iterator

import re2

log = logging.getLogger(__name__)

MAX_TEXT = 10_000  # characters of a text that operator patterns look at
MAX_MEM = 8 << 20  # bytes one compiled pattern may use (RE2's own default budget)

# RE2's error texts → what an operator should read. The first cue found in RE2's message wins.
_EXPLAINED = (
    ("operator: (?=", "lookahead (?=…) is not supported"),
    ("operator: (?!", "lookahead (?!…) is not supported"),
    ("operator: (?<", "lookbehind (?<=…) and (?<!…) are not supported"),
    ("operator: (?P", "backreferences (?P=name) are not supported"),
    ("operator: (?>", "atomic groups (?>…) are not supported"),
    ("operator: (?(", "conditionals (?(…)…) are not supported"),
    ("operator: (?#", "comments (?#…) are not supported"),
    ("sequence: \\Z", "\\Z is not supported: write \\z for the end of the text"),
    ("operator: ++", "possessive quantifiers (++, *+, ?+) are not supported"),
    ("operator: *+", "possessive quantifiers (++, *+, ?+) are not supported"),
    ("operator: ?+", "possessive quantifiers (++, *+, ?+) are not supported"),
    ("pattern too large", "the pattern needs more memory than a pattern may use"),
    ("invalid repetition size", "a repetition count may be at most 1000"),
)


class PatternError(ValueError):
    """A pattern RE2 cannot take; the message says which and why, for ``file: key: problem`` reports."""


def _problem(pattern: str, said: str) -> str:
    if said.startswith("invalid escape sequence: \\") and said[-1:].isdigit():
        reason = "backreferences (\\1 …) are not supported"
    else:
        reason = next((why for cue, why in _EXPLAINED if cue in said), None)
    if reason is None:
        return f"pattern {pattern!r} does not compile: {said}"
    return f"pattern {pattern!r}: {reason} (patterns run on RE2, in linear time; RE2 said: {said})"


_UNANCHORED = getattr(getattr(re2, "_Anchor", None), "UNANCHORED", None)
_NO_SPAN = (-1, -1)


class SafeRegex:
    """A compiled operator pattern. Searches look at the first ``MAX_TEXT`` characters only."""

    __slots__ = ("pattern", "_regex", "_match")

    def __init__(self, pattern: str, regex):
        self.pattern, self._regex = pattern, regex
        # The extension's own Match, for ``matches``: the wrapper's search builds a match object through a
        # generator, which more than doubles the time of a test that most messages fail (0.6 µs against 1.3).
        self._match = getattr(getattr(regex, "_regexp", None), "Match", None) if _UNANCHORED is not None else None

    def __repr__(self) -> str:
        return f"SafeRegex({self.pattern!r})"

    def matches(self, text: str) -> bool:
        """Whether the pattern matches anywhere in the first ``MAX_TEXT`` characters (no match object)."""
        if self._match is None:
            return self.search(text) is not None
        text = text[:MAX_TEXT]
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:
            data = _encodable(text).encode("utf-8")
        return self._match(_UNANCHORED, data, 0, len(data))[0] != _NO_SPAN

    def search(self, text: str):
        text = text[:MAX_TEXT]
        try:
            return self._regex.search(text)
        except UnicodeEncodeError:  # RE2 reads UTF-8, which a lone surrogate ("\ud800") cannot be
            return self._regex.search(_encodable(text))

    def finditer(self, text: str) -> Iterator:
        text = text[:MAX_TEXT]
        try:
            text.encode("utf-8")  # the matches come lazily: a lone surrogate must be found now
        except UnicodeEncodeError:
            text = _encodable(text)
        return self._regex.finditer(text)

    def fullmatch(self, text: str):
        # A cut text could fully match where the whole does not: a text over the cap simply does not.
        if len(text) > MAX_TEXT:
            return None
        try:
            return self._regex.fullmatch(text)
        except UnicodeEncodeError:
            return self._regex.fullmatch(_encodable(text))


def _encodable(text: str) -> str:
    """``text`` with each lone surrogate replaced by "?": one character for one, so offsets stay."""
    return text.encode("utf-8", "replace").decode("utf-8")


@lru_cache(maxsize=1024)
def compile(pattern: str, ignore_case: bool = False, max_mem: int = MAX_MEM) -> SafeRegex:  # noqa: A001
    """``pattern`` compiled by RE2 (cached); raises PatternError naming the problem."""
    if not isinstance(pattern, str):
        raise PatternError(f"pattern {pattern!r} is not text")
    options = re2.Options()
    options.max_mem = max_mem
    options.log_errors = False  # RE2 would print every refused pattern to stderr
    options.case_sensitive = not ignore_case
    try:
        return SafeRegex(pattern, re2.compile(pattern, options))
    except UnicodeEncodeError:
        raise PatternError(f"pattern {pattern!r} contains a lone surrogate, which is not text") from None
    except re2.error as exc:
        said = exc.args[0] if exc.args else ""
        said = said.decode("utf-8", "replace") if isinstance(said, bytes) else str(said)
        raise PatternError(_problem(pattern, said)) from None


def check(pattern: str) -> None:
    """Raise PatternError when ``pattern`` cannot be used (the rules models' validator)."""
    compile(pattern)


@lru_cache(maxsize=256)
def _refused_once(pattern: str, problem: str) -> None:
    log.warning("operator pattern skipped: %s", problem)


def search(pattern: str, text: str, ignore_case: bool = False):
    """The first match of ``pattern`` in ``text`` (its first ``MAX_TEXT`` characters), or None. A pattern
    RE2 refuses (validation should have stopped it: the text it was validated in may have been changed
    since, by normalisation) matches nothing, and is logged once."""
    try:
        regex = compile(pattern, ignore_case)
    except PatternError as exc:
        _refused_once(pattern, str(exc))
        return None
    return regex.search(text)
