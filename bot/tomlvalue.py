"""Rule values written as TOML, the way an operator would type them in ``rules/<plugin>.toml`` (``/config``
and ``/set`` answers). tomllib only reads; the values rules hold are few enough to write here: strings,
integers, floats, booleans, dates and times, arrays, and tables (sub-models) as inline tables."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from enum import Enum
from typing import Any

from pydantic import BaseModel

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
# Basic strings may not hold control characters (tab aside, escaped anyway for one-line output).
_ESCAPES = {ord('"'): '\\"', ord("\\"): "\\\\", ord("\b"): "\\b", ord("\t"): "\\t", ord("\n"): "\\n",
            ord("\f"): "\\f", ord("\r"): "\\r"}
_ESCAPES.update({c: f"\\u{c:04X}" for c in (*range(0x20), 0x7F) if c not in _ESCAPES})


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string (one line, non-ASCII kept as it is)."""
    return '"' + text.translate(_ESCAPES) + '"'


def toml_key(key: Any) -> str:
    """A table key: bare where TOML allows it, quoted otherwise. Dates (``dated`` items) key by ISO date."""
    text = key.isoformat() if isinstance(key, (date, time)) else str(key.value if isinstance(key, Enum) else key)
    return text if _BARE_KEY.fullmatch(text) else toml_string(text)


def toml_value(value: Any) -> str:
    """``value`` as a TOML value on one line: ``10``, ``"答"``, ``true``, ``["a", "b"]``, ``{ ask = "…" }``.
    ``None`` inside a table leaves the key out (TOML has no null); anywhere else it is a TypeError."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="python")
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):  # before int: bool is an int
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, (date, time)):
        return _moment(value)
    if isinstance(value, Mapping):
        pairs = [f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items() if v is not None]
        return "{ " + ", ".join(pairs) + " }" if pairs else "{}"
    if isinstance(value, (set, frozenset)):
        value = sorted(value, key=repr)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _float(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    text = repr(value)  # the shortest text that reads back as the same float
    return text if any(c in text for c in ".e") else text + ".0"


def _moment(value: date | time) -> str:
    if isinstance(value, time) and value.tzinfo is not None:
        raise TypeError("TOML has no time of day with a UTC offset")
    if isinstance(value, datetime) and value.tzinfo is not None and value.utcoffset() % timedelta(minutes=1):
        raise TypeError("TOML offsets are whole minutes")
    return value.isoformat()
