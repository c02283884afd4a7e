"""Every user-facing sentence, rendered from templates/ in a sandboxed Jinja2 environment.

Operators may put their own templates in a folder named by config (``templates_dir``); a file there
wins over the shipped one of the same name. The sandbox keeps a template from reaching Python
internals (``__class__``, ``__globals__`` …) and from changing the objects it is given.

A template edited into one that does not compile is refused like a rule file: the last good version
stays in force (included templates too) and the operators are told once, with the file and line.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable

from jinja2 import (BaseLoader, ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, Template, TemplateError,
                    TemplateNotFound, TemplateSyntaxError)
from jinja2.sandbox import ImmutableSandboxedEnvironment

log = logging.getLogger(__name__)

SHIPPED_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
SUFFIX = ".j2"
# How often a template file is looked at for changes. Operators edit templates rarely, and Jinja's own
# check (auto_reload) stats the file on every render: with this, an edit shows within a few seconds.
RECHECK_SECONDS = 3.0


def where(exc: TemplateSyntaxError, override_dir: Path | None) -> str:
    """``templates/checkin/top.j2: line 3: problem`` (the operator's own folder named where the file is there)."""
    root = f"templates/{exc.name}"
    if override_dir is not None and exc.filename and Path(exc.filename).resolve().is_relative_to(Path(override_dir).resolve()):
        root = str(Path(override_dir) / (exc.name or Path(exc.filename).name))
    return f"{root}: line {exc.lineno}: {exc.message}"


class LastGood(BaseLoader):
    """A loader that hands Jinja a template's source only when it compiles; when an edit does not, the last
    good source stays (until the file changes again) and ``refused`` hears of it once per edit. A template
    never seen good has nothing to fall back on: its error stands (``check_all`` at start sees them all)."""

    def __init__(self, inner: BaseLoader, refused: Callable[[TemplateSyntaxError], None]):
        self.inner = inner
        self.refused = refused
        self.good: dict[str, tuple[str, str | None]] = {}
        self._told: dict[str, str] = {}  # name -> the refused source already reported

    def get_source(self, environment: Environment, name: str):
        source, filename, uptodate = self.inner.get_source(environment, name)
        try:
            environment.compile(source, name, filename, raw=True)  # parse and code generation: every check Jinja makes
        except TemplateSyntaxError as exc:
            good = self.good.get(name)
            if good is None:
                raise
            if self._told.get(name) != source:
                self._told[name] = source
                self.refused(exc)
            return good[0], good[1], uptodate
        self.good[name] = (source, filename)
        self._told.pop(name, None)
        return source, filename, uptodate

    def list_templates(self) -> list[str]:
        return self.inner.list_templates()


class Templates:
    """Renders ``<plugin>/<name>`` templates; results are stripped of surrounding whitespace. ``report`` hears
    of a template refused while running (default: the log)."""

    def __init__(self, override_dir: Path | None = None, report: Callable[[str], None] | None = None):
        self.override_dir = override_dir
        self.report = report or (lambda text: log.warning("%s", text))
        dirs = [str(d) for d in (override_dir, SHIPPED_TEMPLATES) if d is not None]
        self.loader = LastGood(ChoiceLoader([FileSystemLoader(d, encoding="utf-8") for d in dirs]), self._refused)
        # The sandbox is a security boundary (operators' templates render members' text): no shortcuts here.
        self.env = ImmutableSandboxedEnvironment(
            loader=self.loader,
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
        """Compile every template; return ``file: line N: problem`` lines for the ones that do not compile
        (each one's current file, not a last good version kept). The ones that do are the good versions a
        later broken edit falls back on."""
        problems = []
        for name in self.env.list_templates(extensions=[SUFFIX[1:]]):
            try:
                source, filename, _ = self.loader.inner.get_source(self.env, name)
                self.env.compile(source, name, filename, raw=True)
                self.env.get_template(name)
            except TemplateSyntaxError as exc:
                problems.append(where(exc, self.override_dir))
            except TemplateError as exc:
                problems.append(f"templates/{name}: {exc}")
        return problems

    def _refused(self, exc: TemplateSyntaxError) -> None:
        self.report(f"template refused, last good version stays: {where(exc, self.override_dir)}")
