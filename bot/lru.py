"""A dictionary that forgets its least recently used entries beyond a size: per-member caches stay
bounded however many members a long-running bot has ever seen."""

from __future__ import annotations

from collections import OrderedDict


class Recent(OrderedDict):
    """Reads (``get``, ``[]``) and writes make an entry recent; the oldest go beyond ``size``."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def __getitem__(self, key):
        value = super().__getitem__(key)
        self.move_to_end(key)
        return value

    def get(self, key, default=None):
        return self[key] if key in self else default

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)

    def setdefault(self, key, default=None):
        if key not in self:
            self[key] = default
        return self[key]
