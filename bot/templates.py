"""Every user-facing sentence, rendered from templates/ in a sandboxed Jinja2 environment.

Operators may put their own templates in a folder named by config (``templates_dir``); a file there
wins over the shipped one of the same name. The sandbox keeps a template from reaching Python
internals (``__class__``, ``__globals__`` …) and from changing the objects it is given.
"""

from __future__ import annotations

import time
import types
from collections import deque
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined, Template, TemplateError, TemplateNotFound
from jinja2.sandbox import ImmutableSandboxedEnvironment

SHIPPED_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
SUFFIX = ".j2"
# How often a template file is looked at for changes. Operators edit templates rarely, and Jinja's own
# check (auto_reload) stats the file on every render: with this, an edit shows within a few seconds.
RECHECK_SECONDS = 3.0


# A template reads plain values (numbers, texts, flags) off the objects it is given: ``result.rank``.
_PLAIN = frozenset({int, float, str, bool, type(None)})
# Objects whose every attribute the sandbox refuses or vets (jinja2.sandbox.is_internal_attribute), and
# the mutable containers whose mutating methods it refuses (modifies_known_mutable): left to the sandbox.
_VETTED = (types.FunctionType, types.MethodType, type, types.CodeType, types.TracebackType, types.FrameType,
           types.GeneratorType, types.CoroutineType, types.AsyncGeneratorType, list, dict, set, deque)


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with a shorter way to a plain value under a public name. The sandbox's own
    check runs a dozen isinstance tests (several against abstract base classes) per attribute: two
    thirds of rendering a check-in reply. A plain value cannot lead to Python internals, and those the
    sandbox guards (functions, types, frames, containers' mutators) all go its own way."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(attribute) is str and not attribute.startswith("_") and not isinstance(obj, _VETTED):
            value = getattr(obj, attribute, _PLAIN)  # the set itself marks "no such attribute"
            if type(value) in _PLAIN:
                return value
        return super().getattr(obj, attribute)


class Templates:
    """Renders ``<plugin>/<name>`` templates; results are stripped of surrounding whitespace."""

    def __init__(self, override_dir: Path | None = None):
        dirs = [str(d) for d in (override_dir, SHIPPED_TEMPLATES) if d is not None]
        self.env = _Sandbox(
            loader=ChoiceLoader([FileSystemLoader(d, encoding="utf-8") for d in dirs]),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            autoescape=False,  # plain chat text; adapters escape for their parse mode
            auto_reload=True,
        )
        self._compiled: dict[str, Template] = {}
        self._checked_at = time.monotonic()

    def render(self, template: str, /, **context) -> str:
        return self._get(template).render(**context).strip()

    def _get(self, template: str) -> Template:
        """The compiled template; Jinja (which reloads a changed file) is asked again every RECHECK_SECONDS."""
        now = time.monotonic()
        if now - self._checked_at > RECHECK_SECONDS:
            self._compiled.clear()
            self._checked_at = now
        compiled = self._compiled.get(template)
        if compiled is None:
            compiled = self._compiled[template] = self.env.get_template(template + SUFFIX)
            # Jinja chains the template's globals to the environment's, and every render copies them key by
            # key through the chain; a plain dict copies at C speed (~a third of a short render). Nothing
            # adds globals after the environment is made, so the flat copy stays right.
            compiled.globals = dict(compiled.globals)
        return compiled

    def exists(self, name: str) -> bool:
        try:
            self.env.get_template(name + SUFFIX)
        except TemplateNotFound:
            return False
        return True

    def check_all(self) -> list[str]:
        """Compile every template; return ``file: problem`` lines for the ones that do not compile."""
        problems = []
        for name in self.env.list_templates(extensions=[SUFFIX[1:]]):
            try:
                self.env.get_template(name)
            except TemplateError as exc:
                problems.append(f"templates/{name}: {exc}")
        return problems
