"""Rule files: ``rules/<plugin>.toml`` validated by the plugin's pydantic model, in three layers.

Layers, lowest first: the model's defaults, the file's top level, the file's ``[groups."<platform>:<id>"]``
table for one group, and the owner's settings made with ``/set`` (stored in the database). A file that
fails validation is refused whole: its last good version stays in force.
"""

from __future__ import annotations

import copy
import itertools
import logging
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Annotated, Any, Callable, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError
from pydantic_core import PydanticCustomError

from bot.guards import FILE_ONLY, OWNER_ONLY, SetBy, guard_map, required_level  # noqa: F401  (plugins import them from here)

from bot import safe_regex

log = logging.getLogger(__name__)

def _user_ref(value: str) -> str:
    platform, _, user = value.partition(":")
    if not (platform.strip() and user.strip()):
        raise PydanticCustomError("user_ref", 'must be "<platform>:<user id>", like "qq:123456"')
    return value


# "qq:123456": one person on one platform (the same number on another platform is someone else).
UserRef = Annotated[str, AfterValidator(_user_ref)]


class PluginRules(BaseModel):
    """Base of every plugin's rules model: unknown keys are errors, values are read-only.

    Switching a plugin off is the owner's call. ``owner_delegates`` names people who may change this
    plugin's owner-only keys as the owner would; only the rule file grants that (an admin who could add
    themselves would make every owner-only key an admin key)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: Annotated[bool, OWNER_ONLY] = True
    owner_delegates: Annotated[list[UserRef], FILE_ONLY] = []

    def derived(self, key: Any, make: Callable[[], Any]) -> Any:
        """A value worked out from these rules and ``key`` (a zone, say), made once: rules objects are
        frozen, and every group on the same rules shares one. For a value of the rules alone, a
        ``functools.cached_property`` on the model says the same more plainly."""
        cache = self.__dict__.get("_derived")
        if cache is None:
            cache = self.__dict__["_derived"] = {}
        if key not in cache:
            cache[key] = make()
        return cache[key]

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False):
        """A copy; one with changed values forgets what was worked out from the old ones (``derived`` and
        cached properties live beside the fields, and pydantic's copy would carry them over)."""
        copied = super().model_copy(update=update, deep=deep)
        if update:
            for key in [k for k in copied.__dict__ if k not in type(self).model_fields]:
                del copied.__dict__[key]
        return copied


# ----------------------------------------------------------------------------- shared value types

_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def _clock_time(value: str) -> str:
    if not _CLOCK.match(value):
        raise PydanticCustomError("clock_time", 'must be a time of day like "08:00" (24-hour HH:MM)')
    return value


# "08:00": a time of day in the group's timezone (posts, prompts, reports).
ClockTime = Annotated[str, AfterValidator(_clock_time)]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def hour_minute(value: str) -> tuple[int, int]:
    """``"08:30"`` (a validated ClockTime) as ``(8, 30)``."""
    hour, minute = value.split(":")
    return int(hour), int(minute)


def _clock_span(value: str) -> str:
    start, _, end = value.partition("-")
    if not (_CLOCK.match(start) and (_CLOCK.match(end) or end == "24:00")):
        raise PydanticCustomError("clock_span", 'must be a span of two times of day like "09:00-10:00" or "23:00-07:00"')
    return value


# "23:00-07:00": from one time of day to another (past midnight when the end is not after the start).
ClockSpan = Annotated[str, AfterValidator(_clock_span)]


def _compiles(patterns: list[str]) -> list[str]:
    for pattern in patterns:
        try:
            safe_regex.check(pattern)  # on RE2, as they will run
        except safe_regex.PatternError as exc:
            raise PydanticCustomError("pattern_invalid", "{error}", {"pattern": repr(pattern), "error": str(exc)}) from None
    return patterns


# Regular expressions that must compile on RE2 (bot/safe_regex.py: linear time, no backreferences or
# lookaround); set only in rule files, since every answer or message in the process runs through them.
Patterns = Annotated[list[str], AfterValidator(_compiles), FILE_ONLY]


def _relative_folder(value: str) -> str:
    if not value:
        return value
    if any(p.is_absolute() or p.drive for p in (PurePosixPath(value), PureWindowsPath(value))) or value.startswith("~"):
        raise PydanticCustomError("folder_outside", "must be a folder inside the rules folder, relative to it (not an absolute path)")
    if ".." in PureWindowsPath(value).parts:
        raise PydanticCustomError("folder_outside", "must be a folder inside the rules folder ('..' may not leave it)")
    return value


# A folder below the rules folder; set only in rule files. resolve_inside() checks it again at use (symlinks).
RulesFolder = Annotated[str, AfterValidator(_relative_folder), FILE_ONLY]


def resolve_inside(rules_dir: Path, folder: str) -> Path:
    """``folder`` under ``rules_dir``, resolved; ValueError when it lands outside (a symlink, say)."""
    base = Path(rules_dir).resolve()
    target = (base / _relative_folder(folder)).resolve()
    if not target.is_relative_to(base):
        raise ValueError(f"{folder!r} resolves to {target}, outside the rules folder {base}")
    return target


@dataclass(frozen=True)
class RuleError:
    """One problem: ``problem`` is the English line ``qunbot check`` prints; ``kind`` (pydantic's error type,
    or ``unknown_key``, ``not_a_table``) and ``facts`` (its context and the input) let ``/set`` say it in
    the owner's words."""

    file: str
    path: str
    problem: str
    kind: str = field(default="", compare=False)
    facts: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __str__(self) -> str:
        return f"{self.file}: {self.path}: {self.problem}"


class RuleValueError(ValueError):
    """A value refused by a plugin's model (from ``/set``); ``errors`` say which key and why."""

    def __init__(self, errors: list[RuleError]):
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


@dataclass
class RuleFile:
    """The last good contents of one rule file."""

    plugin: str
    path: Path
    top: dict[str, Any]
    groups: dict[str, dict[str, Any]]
    fingerprint: tuple[int, int] = (0, 0)
    sets: dict[str, dict[str, Any]] = field(default_factory=dict)  # group set name -> its override


def fingerprint(path: Path) -> tuple[int, int]:
    st = path.stat()
    return (st.st_mtime_ns, st.st_size)


def format_loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top)"


def _problem(err: dict, model: type[BaseModel], loc: tuple) -> str:
    if err["type"] == "extra_forbidden":
        known = ", ".join(model.model_fields) if len(loc) == 1 else ""
        return f"unknown key (known keys: {known})" if known else "unknown key"
    return f"{err['msg']} (got {err['input']!r})" if "input" in err else err["msg"]


def validation_errors(exc: ValidationError, model: type[BaseModel], file: str, prefix: str = "") -> list[RuleError]:
    errors = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        path = format_loc(loc)
        facts = {**err.get("ctx", {}), "message": err["msg"]}
        if "input" in err:
            facts["input"] = err["input"]
        if err["type"] == "extra_forbidden" and len(loc) == 1:
            facts["known"] = list(model.model_fields)
        errors.append(RuleError(file, f"{prefix}{path}" if prefix else path, _problem(err, model, loc), err["type"], facts))
    return errors


def deep_merge(base: dict, over: dict) -> dict:
    """``over`` laid on ``base``: tables merge key by key, anything else is replaced."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def set_path(values: dict, dotted: str, value: Any) -> dict:
    """A copy of ``values`` with ``dotted`` (``a.b.c``) set to ``value``."""
    out = copy.deepcopy(values)
    node = out
    *parents, last = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise RuleValueError([RuleError("/set", dotted, f"{part} is not a table", "not_a_table", {"part": part})])
    node[last] = value
    return out


def parse_value(text: str) -> Any:
    """A ``/set`` value in TOML literal syntax (``5``, ``true``, ``"x"``, ``[1, 2]``); else the plain text.
    TOML dates and times become ISO strings: the owner layer is stored as JSON (a date object once made
    ``/set daily_posts extra_holidays [2026-12-24]`` fail without an answer), and the models read ISO."""
    try:
        return _iso(tomllib.loads(f"v = {text}")["v"])
    except tomllib.TOMLDecodeError:
        return text


def _iso(value: Any) -> Any:
    if isinstance(value, (date, time)):  # datetime is a date
        return value.isoformat()
    if isinstance(value, list):
        return [_iso(v) for v in value]
    if isinstance(value, dict):
        return {k: _iso(v) for k, v in value.items()}
    return value


def _top_key(path: str) -> str:
    return path.split(".")[0].split("[")[0]


def load_rule_file(path: Path, plugin: str, model: type[PluginRules]) -> tuple[RuleFile | None, list[RuleError]]:
    """Read and validate one rule file; return it, or None and every error found."""
    name = path.name
    try:
        stamp = fingerprint(path)
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        return None, [RuleError(name, "(toml)", str(exc))]
    except (OSError, UnicodeDecodeError) as exc:
        return None, [RuleError(name, "(file)", str(exc))]
    groups = data.pop("groups", {})
    sets = data.pop("sets", {})
    errors: list[RuleError] = []
    try:
        model.model_validate(data)
    except ValidationError as exc:
        errors += validation_errors(exc, model, name)
    for table, overrides in (("groups", groups), ("sets", sets)):
        if not isinstance(overrides, dict):
            return None, errors + [RuleError(name, table, f"must be a table of {table[:-1]} tables")]
        for key, over in overrides.items():
            errors += _override_errors(name, model, data, table, key, over)
    if errors:
        return None, errors
    return RuleFile(plugin, path, data, groups, stamp, sets), []


def _override_errors(file: str, model: type[PluginRules], top: dict, table: str, key: str, over: Any) -> list[RuleError]:
    """What one ``[groups."<platform>:<id>"]`` or ``[sets."<name>"]`` table gets wrong."""
    prefix = f'{table}."{key}".'
    if table == "groups" and ":" not in key:
        return [RuleError(file, f'{table}."{key}"', 'group key must be "<platform>:<group id>"')]
    if not isinstance(over, dict):
        return [RuleError(file, f'{table}."{key}"', "must be a table")]
    try:
        model.model_validate(deep_merge(top, over))
    except ValidationError as exc:
        # Report only what the override itself got wrong; top-level errors are already listed.
        return [e for e in validation_errors(exc, model, file, prefix) if _top_key(e.path[len(prefix):]) in over]
    return []


# Rule book generations, unique across rule books so that a cache keyed by one never mistakes another's.
_GENERATIONS = itertools.count()


@dataclass
class RuleBook:
    """Every included plugin's rules, resolved per group on demand and cached."""

    models: dict[str, type[PluginRules]]
    files: dict[str, RuleFile]
    owner: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    # group -> the names of the group sets it belongs to, in sets.toml's order (their overrides apply in it)
    sets_of: Callable[[str], tuple[str, ...]] = lambda _group: ()
    _cache: dict[tuple[str, str], PluginRules | None] = field(default_factory=dict)
    # Changes whenever any plugin's rules may have changed: what ``effective`` returned before may be stale
    # (the bus keeps its per-group plans until then).
    generation: int = field(default_factory=lambda: next(_GENERATIONS), compare=False, repr=False)

    def effective(self, plugin: str, group: str) -> PluginRules | None:
        """The plugin's rules for ``group``, or None where the plugin is disabled there."""
        key = (plugin, group)
        try:
            return self._cache[key]
        except KeyError:
            pass
        owner = self._owner_in_force(plugin, group)
        if not owner and not self._layers_of(plugin, group):
            # Most groups run on the file's top level: they share one (frozen) model, rather than a copy
            # each (the anti-ad lists alone are ~36 kB a group, 360 MB for 10,000 groups).
            shared = (plugin, "")
            if shared not in self._cache:
                rules = self.models[plugin].model_validate(self._merged(plugin, "", {}))
                self._cache[shared] = rules if rules.enabled else None
            result = self._cache[key] = self._cache[shared]
            return result
        rules = self.models[plugin].model_validate(self._merged(plugin, group, owner))
        result = rules if rules.enabled else None
        self._cache[key] = result
        return result

    def _owner_in_force(self, plugin: str, group: str) -> dict[str, Any]:
        """The group's owner layer, or nothing when it no longer validates. Owner values are checked when
        set, but a stored one can stop fitting later (a changed rule file or plugin model): the group then
        runs on its file rules, and the log says why."""
        owner = self.owner.get((plugin, group), {})
        if owner:
            model = self.models[plugin]
            try:
                level, keys = required_level(model.model_validate(self._merged(plugin, group, {})),
                                             model.model_validate(self._merged(plugin, group, owner)))
            except ValidationError as exc:
                log.warning("%s: owner settings for %s ignored, they no longer validate: %s", group, plugin, exc)
                return {}
            if level == "file":  # stored before the key was guarded: the server's files decide it
                log.warning("%s: owner settings for %s ignored, they change %s (rule files only)", group, plugin, keys)
                return {}
        return owner

    def _layers_of(self, plugin: str, group: str) -> list[dict[str, Any]]:
        """The file's tables that override its top level for ``group``: its sets' (in order), then its own."""
        file = self.files[plugin]
        layers = [file.sets[name] for name in self.sets_of(group) if name in file.sets] if file.sets else []
        if group in file.groups:
            layers.append(file.groups[group])
        return layers

    def _merged(self, plugin: str, group: str, owner: dict[str, Any]) -> dict:
        merged = self.files[plugin].top
        for layer in (*self._layers_of(plugin, group), owner):
            merged = deep_merge(merged, layer)
        return merged

    def check_owner_value(self, plugin: str, group: str, key: str, value: Any) -> dict[str, Any]:
        """The owner layer as it would be with ``key = value``; raises RuleValueError if the model refuses."""
        model = self.models[plugin]
        if key.split(".")[0] not in model.model_fields:
            known = list(model.model_fields)
            raise RuleValueError([RuleError(f"{plugin}.toml", key, f"unknown key (known keys: {', '.join(known)})",
                                            "unknown_key", {"known": known})])
        owner = set_path(self.owner.get((plugin, group), {}), key, value)
        try:
            model.model_validate(self._merged(plugin, group, owner))
        except ValidationError as exc:
            raise RuleValueError(validation_errors(exc, model, f"{plugin}.toml")) from None
        return owner

    def level_for(self, plugin: str, group: str, owner: dict[str, Any]) -> tuple[str, list[str]]:
        """Who may replace the group's owner layer with ``owner`` (see ``required_level``)."""
        model = self.models[plugin]
        before = model.model_validate(self._merged(plugin, group, self._owner_in_force(plugin, group)))
        return required_level(before, model.model_validate(self._merged(plugin, group, owner)))

    def delegates(self, plugin: str, group: str) -> frozenset[str]:
        """Who may act as the owner for ``plugin``'s owner-only keys in ``group``: ``owner_delegates`` as the
        rule file (top level and the group's table) says; the owner layer can never add to it."""
        return frozenset(self.models[plugin].model_validate(self._merged(plugin, group, {})).owner_delegates)

    def set_owner_layer(self, plugin: str, group: str, values: dict[str, Any]) -> None:
        self.owner[(plugin, group)] = values
        self._changed()

    def replace_owner_layers(self, owner: dict[tuple[str, str], dict[str, Any]]) -> None:
        """Take the owner settings as stored (another process may have changed them)."""
        if owner != self.owner:
            self.owner = owner
            self._changed()

    def replace_sets(self, sets_of: Callable[[str], tuple[str, ...]]) -> None:
        self.sets_of = sets_of
        self._changed()

    def replace_file(self, rule_file: RuleFile, model: type[PluginRules]) -> None:
        self.files[rule_file.plugin] = rule_file
        self.models[rule_file.plugin] = model
        self._changed()

    def drop(self, plugin: str) -> None:
        self.files.pop(plugin, None)
        self.models.pop(plugin, None)
        self._changed()

    def _changed(self) -> None:
        self._cache.clear()
        self.generation = next(_GENERATIONS)

    def current(self, plugin: str, group: str) -> PluginRules:
        """The plugin's rules for ``group`` as in force, also where they switch the plugin off."""
        return self.models[plugin].model_validate(self._merged(plugin, group, self._owner_in_force(plugin, group)))

    def explain(self, plugin: str, group: str) -> list[tuple[str, Any, str]]:
        """Each top-level key's effective value and the layer it came from (for ``/config``)."""
        file = self.files[plugin]
        owner = self._owner_in_force(plugin, group)
        rules = self.models[plugin].model_validate(self._merged(plugin, group, owner))
        sets = [file.sets[name] for name in self.sets_of(group) if name in file.sets]
        layers = [("file", file.top), *(("set", s) for s in sets), ("group", file.groups.get(group, {})), ("owner", owner)]
        rows = []
        for key in self.models[plugin].model_fields:
            source = "default"
            for name, layer in layers:
                if key in layer:
                    source = name
            rows.append((key, getattr(rules, key), source))
        return rows
