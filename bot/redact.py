"""Secrets never reach a log line: a filter on the root logger's handlers replaces each configured secret
with ``***``, in every record of every logger at every level (python-telegram-bot, httpx and websockets
write tokens into their DEBUG lines: a Bot API URL holds the bot token, a handshake the access token).

The secrets are the values of the environment variables config.toml names (every ``*_env`` key: tokens,
the webhook secret) and the password of ``database_url``. A record is formatted first (``msg % args``),
then cleaned, so a secret passed as an argument is caught too; so are tracebacks and stack traces. Each
secret is also looked for percent-encoded, as it appears in a URL's query.
"""

from __future__ import annotations

import logging
import os
import re
import typing
from urllib.parse import quote, quote_plus, urlsplit

from pydantic import BaseModel, ValidationError

MASK = "***"
# A shorter value would mask ordinary words all over the log; `qunbot run` says so instead.
MIN_SECRET = 4


def secret_names(config: BaseModel) -> list[str]:
    """The environment variables config names for secrets: every ``*_env`` value, in every section,
    including the defaults of a section left out (Telegram's token_env has one)."""
    names: list[str] = []

    def walk(model: BaseModel) -> None:
        for name, info in type(model).model_fields.items():
            value = getattr(model, name)
            if value is None:
                value = _default_section(info.annotation)
            if name.endswith("_env") and isinstance(value, str) and value:
                names.append(value)
            for item in value.values() if isinstance(value, dict) else value if isinstance(value, list) else [value]:
                if isinstance(item, BaseModel):
                    walk(item)

    walk(config)
    return list(dict.fromkeys(names))


def _default_section(annotation) -> BaseModel | None:
    for kind in typing.get_args(annotation):
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            try:
                return kind()
            except ValidationError:  # a section with required keys has no defaults to look at
                return None
    return None


def configured_secrets(config: BaseModel, environ: typing.Mapping[str, str] | None = None) -> list[str]:
    environ = os.environ if environ is None else environ
    secrets = [environ.get(name, "").strip() for name in secret_names(config)]
    url = getattr(config, "database_url", "")
    try:
        password = urlsplit(url).password if url else None
    except ValueError:
        password = None
    return [s for s in dict.fromkeys([*secrets, password or ""]) if s]


def short_secret_names(config: BaseModel, environ: typing.Mapping[str, str] | None = None) -> list[str]:
    """The variables whose secret is too short to be masked (it would mask ordinary words)."""
    environ = os.environ if environ is None else environ
    return [name for name in secret_names(config) if 0 < len(environ.get(name, "").strip()) < MIN_SECRET]


class Redactor(logging.Filter):
    """Replaces every secret in a record's message, traceback and stack with ``***``."""

    def __init__(self, secrets: typing.Iterable[str] = ()):
        super().__init__("")
        self._pattern: re.Pattern | None = None
        self.set(secrets)

    def set(self, secrets: typing.Iterable[str]) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if len(secret) < MIN_SECRET:
                continue
            forms.update({secret, quote(secret, safe=""), quote(secret, safe="/"), quote_plus(secret)})
        # Longest first, so a secret inside a longer one leaves nothing of the longer one behind.
        ordered = sorted(forms, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def redact(self, text: str) -> str:
        return self._pattern.sub(MASK, text) if self._pattern is not None and text else text

    def filter(self, record: logging.LogRecord) -> bool:
        if self._pattern is None:
            return True
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit the format: logging would print them raw
            message = f"{record.msg} (arguments that do not fit the message left out)"
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def install(secrets: typing.Iterable[str]) -> Redactor:
    """Put a Redactor on every handler of the root logger (call it after ``logging.basicConfig``)."""
    redactor = Redactor(secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)
    return redactor
