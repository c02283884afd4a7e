"""Group sets: named sets of groups across platforms, the one way to say "these groups together".

They live in ``rules/sets.toml`` (hot-reloaded like the rule files, checked by ``qunbot check``):

    [sets]
    "课程群" = ["qq:123456", "telegram:-1001234567890", "wecom:wrkSFfCgAAxxxx"]

Relays, broadcasts, shared ban lists and rule-file overrides (``[sets."课程群"]`` tables) take a set's name.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from bot.adapters.registry import ADAPTER_NAMES
from bot.rules import RuleError, fingerprint, validation_errors

SETS_FILE = "sets.toml"


class _SetsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sets: dict[str, list[str]] = {}

    @field_validator("sets")
    @classmethod
    def _groups_named_fully(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, groups in value.items():
            if not name.strip():
                raise ValueError("a set needs a name")
            for group in groups:
                platform, _, chat = group.partition(":")
                if not chat:
                    raise ValueError(f'{name}: group {group!r} must be "<platform>:<group id>"')
                if platform not in ADAPTER_NAMES:
                    raise ValueError(f"{name}: group {group!r}: unknown platform {platform!r} "
                                     f"(known: {', '.join(ADAPTER_NAMES)})")
            if len(set(groups)) != len(groups):
                raise ValueError(f"{name}: a group is listed twice")
        return value


@dataclass(frozen=True)
class GroupSets:
    """The sets in force: name -> its groups, both in file order (an override of a later set wins)."""

    sets: dict[str, tuple[str, ...]] = field(default_factory=dict)
    fingerprint: tuple[int, int] = (0, 0)

    def members(self, name: str) -> tuple[str, ...]:
        """The groups of set ``name``; LookupError names the sets there are."""
        try:
            return self.sets[name]
        except KeyError:
            raise LookupError(f"unknown group set {name!r} (known: {', '.join(self.sets) or 'none'})") from None

    def of(self, group: str) -> tuple[str, ...]:
        """The names of the sets ``group`` belongs to, in file order."""
        return tuple(name for name, groups in self.sets.items() if group in groups)

    def partners(self, group: str) -> tuple[str, ...]:
        """Every other group that shares a set with ``group`` (each once, in file order)."""
        seen = dict.fromkeys(g for name in self.of(group) for g in self.sets[name] if g != group)
        return tuple(seen)


def load_group_sets(rules_dir: Path) -> tuple[GroupSets | None, list[RuleError]]:
    """Read ``rules_dir/sets.toml``: no file is no sets; a broken file is None and every error found."""
    path = rules_dir / SETS_FILE
    if not path.exists():
        return GroupSets(), []
    try:
        stamp = fingerprint(path)
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        return None, [RuleError(SETS_FILE, "(toml)", str(exc))]
    except (OSError, UnicodeDecodeError) as exc:
        return None, [RuleError(SETS_FILE, "(file)", str(exc))]
    try:
        parsed = _SetsFile.model_validate(data)
    except ValidationError as exc:
        return None, validation_errors(exc, _SetsFile, SETS_FILE)
    return GroupSets({name: tuple(groups) for name, groups in parsed.sets.items()}, stamp), []
