"""Who may change a rule key from the chat with ``/set``: marks on the rules models' annotations.

A mark (``Annotated[list[str], FILE_ONLY]``) holds wherever the annotated type sits: on a field, as the
value type of a table (``dict[str, Patterns]``), as the item type of a list, inside a union, in a sub-model
reached through any of these. A change is judged on effective values, not on the path ``/set`` was given,
so a key reached through a parent table, or removed with ``/unset``, is caught like one set by its own path.
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, time
from enum import Enum
from typing import Annotated, Any, Literal, NamedTuple, Union, get_args, get_origin

from pydantic import BaseModel

LEVELS = ("admin", "owner", "file")


@dataclass(frozen=True)
class SetBy:
    """Field metadata (``Annotated[str, FILE_ONLY]``): who may change the key from the chat with ``/set``.
    Unmarked keys: admins. ``owner``: the group owner only (and the plugin's ``owner_delegates``).
    ``file``: nobody in chat, only the rule files on the server — for values that reach beyond one group
    (paths on the server, regular expressions that every message of every group runs through)."""

    level: Literal["owner", "file"]


OWNER_ONLY = SetBy("owner")
FILE_ONLY = SetBy("file")

_NO_DEFAULT = object()  # a key with no default: its absence on one side of a change is never "unchanged"
_UNIONS = (Union, types.UnionType)


class Guard(NamedTuple):
    level: str
    value: Any
    default: Any  # the field's default: what the key is worth where it is absent (a table entry not yet added)


def highest(levels: Iterable[str]) -> str:
    return max(levels, key=LEVELS.index, default="admin")


def _marked(metadata: Iterable[Any]) -> str:
    return highest(m.level for m in metadata if isinstance(m, SetBy))


def _peel(hint: Any) -> tuple[Any, str]:
    """``hint`` without its ``Annotated`` layers, and the highest level their marks ask for."""
    level = "admin"
    while get_origin(hint) is Annotated:
        hint, *metadata = get_args(hint)
        level = highest((level, _marked(metadata)))
    return hint, level


def _fits(hint: Any, value: Any) -> bool:
    """Whether a union's branch ``hint`` may describe ``value`` (when unsure, yes: a mark too many is safe)."""
    hint, _ = _peel(hint)
    if hint is None or hint is type(None):
        return value is None
    origin = get_origin(hint) or hint
    if origin in _UNIONS or origin is Literal or not isinstance(origin, type):
        return True
    try:
        return isinstance(value, origin)
    except TypeError:
        return True


_SCALARS = (str, int, float, bytes, date, time, Enum, type(None))
_CONTAINERS = (list, tuple, set, frozenset, dict)
_INERT: dict[Any, bool] = {}


def _inert(hint: Any) -> bool:
    """Whether a value of type ``hint`` can hold no mark: no mark in it, and no model or ``Any`` that could
    bring one. Such values are compared whole where a parent is marked and never walked into (the anti-ad
    word lists alone are thousands of strings)."""
    try:
        return _INERT[hint]
    except KeyError:
        result = _INERT[hint] = _holds_no_mark(hint)
        return result
    except TypeError:  # an unhashable annotation
        return _holds_no_mark(hint)


def _holds_no_mark(hint: Any) -> bool:
    hint, level = _peel(hint)
    if level != "admin":
        return False
    origin = get_origin(hint)
    if origin is None:
        return hint is None or (isinstance(hint, type) and issubclass(hint, _SCALARS))
    if origin is Literal:
        return True
    if origin in _UNIONS or origin in _CONTAINERS:
        return all(_inert(arg) for arg in get_args(hint) if arg is not Ellipsis)
    return False


def _item_hint(hint: Any, index: int) -> Any:
    args, origin = get_args(hint), get_origin(hint)
    if origin is tuple and args and args[-1] is not Ellipsis:
        return args[index] if index < len(args) else Any
    return args[0] if args else Any


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _walk(value: Any, hint: Any, path: str, out: dict[str, Guard], level: str = "admin", default: Any = _NO_DEFAULT) -> None:
    hint, own = _peel(hint)
    level = highest((level, own))
    if get_origin(hint) in _UNIONS:
        branches = [arg for arg in get_args(hint) if _fits(arg, value)] or [Any]
        for branch in branches:
            _walk(value, branch, path, out, level, default)
        return
    if level != "admin" and path:
        known = out.get(path)
        out[path] = Guard(highest((level, known.level if known else "admin")), value, default)
    if _inert(hint):
        return
    if isinstance(value, BaseModel):
        for name, annotation, mark, field_default in _fields(type(value)):
            _walk(getattr(value, name), annotation, _join(path, name), out, mark, field_default)
    elif isinstance(value, Mapping):
        args = get_args(hint)
        item = args[1] if len(args) == 2 else Any
        for key, child in value.items():
            _walk(child, item, f"{path}.{key}", out)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for index, child in enumerate(value):
            _walk(child, _item_hint(hint, index), f"{path}[{index}]", out)


_FIELDS: dict[type, tuple] = {}


def _fields(model: type[BaseModel]) -> tuple[tuple[str, Any, str, Any], ...]:
    """Each field's name, annotation, mark and default, worked out once per model class."""
    try:
        return _FIELDS[model]
    except KeyError:
        pass
    _FIELDS[model] = fields = tuple(
        (name, info.annotation, _marked(info.metadata),
         _NO_DEFAULT if info.is_required() else info.get_default(call_default_factory=True))
        for name, info in model.model_fields.items())
    return fields


def guards(rules: BaseModel) -> dict[str, Guard]:
    """Every guarded value in a validated rules object, by path (``questions[0].patterns``, ``lists.spam``)."""
    out: dict[str, Guard] = {}
    _walk(rules, type(rules), "", out)
    return out


def required_level(before: BaseModel, after: BaseModel) -> tuple[str, list[str]]:
    """Who may turn rules ``before`` into ``after`` ("admin", "owner" or "file"), and the guarded keys that
    change. A guarded key that exists on one side only (an entry added to or removed from a table) changes
    only when its value there is not the field's default: adding an entry is not setting its defaults."""
    old, new = guards(before), guards(after)
    changed, levels = [], []
    for key in sorted(old.keys() | new.keys()):
        was, now = old.get(key), new.get(key)
        before_value = was.value if was else now.default
        after_value = now.value if now else was.default
        if before_value is _NO_DEFAULT or after_value is _NO_DEFAULT or before_value != after_value:
            changed.append(key)
            levels.append(highest(g.level for g in (was, now) if g))
    return highest(levels), changed


def guard_map(model: type[BaseModel]) -> dict[str, str]:
    """Every marked key of a rules model and its level, as path patterns (``rotations.*.folder``,
    ``questions[].patterns``): what ``/config`` tells the owner before they try."""
    out: dict[str, str] = {}
    _map(model, "", out, set())
    return out


def _map(hint: Any, path: str, out: dict[str, str], seen: set, level: str = "admin") -> None:
    hint, own = _peel(hint)
    level = highest((level, own))
    if level != "admin" and path:
        out[path] = highest((level, out.get(path, "admin")))
    origin = get_origin(hint)
    if origin in _UNIONS:
        for arg in get_args(hint):
            _map(arg, path, out, seen)
    elif isinstance(hint, type) and issubclass(hint, BaseModel):
        if hint in seen:  # a model that contains itself
            return
        seen = seen | {hint}
        for name, info in hint.model_fields.items():
            _map(info.annotation, _join(path, name), out, seen, _marked(info.metadata))
    elif isinstance(origin, type) and issubclass(origin, Mapping):
        args = get_args(hint)
        if len(args) == 2:
            _map(args[1], f"{path}.*", out, seen)
    elif origin in (list, tuple, set, frozenset):
        for arg in get_args(hint):
            if arg is not Ellipsis:
                _map(arg, f"{path}[]", out, seen)
