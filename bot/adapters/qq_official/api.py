"""The OpenAPI over HTTPS: the access token (getAppAccessToken, renewed before it expires) and one
``call`` that sends ``Authorization: QQBot <token>`` and turns every failure into the outbox's exceptions.

The token lives ``expires_in`` seconds (7200 at the time of writing); QQ hands out a new one only in the
last 60 s of the old one, so we renew ``token_margin_seconds`` early and keep using the old one until the
new one arrives. The secret is held here and in the signer only; it is never logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

import aiohttp

from bot.adapters.base import AdapterStartError, MaybeDelivered, PlatformError
from bot.adapters.qq_official.config import QQOfficialConfig
from bot.adapters.qq_official.errors import error_for

log = logging.getLogger(__name__)

# Token codes that mean "get a new token and try again" (error-trace/openapi.md).
TOKEN_CODES = frozenset({11241, 11242, 11243, 11244})


class OpenApi:
    def __init__(self, config: QQOfficialConfig, secret: str):
        self.config = config
        self._secret = secret
        self._token = ""
        self._expires = 0.0  # monotonic time the token stops working
        self._lock = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None
        self.token_fetches = 0  # for logs and tests

    async def start(self) -> None:
        """Open the HTTP session and get the first token; a refusal is an AdapterStartError."""
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.config.request_timeout))
        try:
            await self.token()
        except PlatformError as exc:
            raise AdapterStartError(f"QQ official: cannot get an access token for AppID {self.config.app_id}: {exc}") from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def token(self, renew: bool = False) -> str:
        """A token good for at least a little longer; renewed under a lock so concurrent callers share one fetch."""
        if not renew and self._token and time.monotonic() < self._expires - self.config.token_margin_seconds:
            return self._token
        async with self._lock:
            if renew or not self._token or time.monotonic() >= self._expires - self.config.token_margin_seconds:
                await self._fetch_token()
        return self._token

    async def _fetch_token(self) -> None:
        body = {"appId": self.config.app_id, "clientSecret": self._secret}
        try:
            async with self._session.post(self.config.token_url, json=body) as response:
                data = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise PlatformError(f"token endpoint unreachable: {type(exc).__name__} {exc}", retryable=True) from None
        # A refusal may come as HTTP 200 with {code, message} and no token.
        if not isinstance(data, dict) or not data.get("access_token"):
            raise error_for("getAppAccessToken", response.status, data if isinstance(data, dict) else {})
        try:
            lifetime = float(data.get("expires_in") or 7200)  # documented as a number, sent as a string
        except (TypeError, ValueError):
            lifetime = 7200.0
        self._token, self._expires = str(data["access_token"]), time.monotonic() + lifetime
        self.token_fetches += 1
        log.info("QQ official: access token renewed, valid for %.0fs", lifetime)

    async def authorization(self) -> str:
        return f"QQBot {await self.token()}"

    async def call(self, method: str, path: str, what: str, body: dict | None = None) -> dict:
        """One OpenAPI request; the answer's JSON object (``{}`` for an empty answer)."""
        for attempt in (1, 2):
            status, data = await self._request(method, path, what, body)
            if 200 <= status < 300 and not (isinstance(data, dict) and data.get("code") not in (None, 0)):
                return data if isinstance(data, dict) else {}
            error = error_for(what, status, data)
            if attempt == 1 and (status == 401 or getattr(error, "code", None) in TOKEN_CODES):
                await self.token(renew=True)  # the token may have been revoked early: one new try
                continue
            raise error
        raise AssertionError("unreachable")

    async def _request(self, method: str, path: str, what: str, body: dict | None) -> tuple[int, object]:
        headers = {"Authorization": await self.authorization()}
        url = self.config.api_url + path
        try:
            async with self._session.request(method, url, json=body, headers=headers) as response:
                text = await response.text()
                return response.status, _json(text)
        except aiohttp.ClientConnectorError as exc:
            raise PlatformError(f"QQ official: {what}: cannot reach {self.config.api_url}: {exc}", retryable=True) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            problem = f"QQ official: {what}: the answer was lost ({type(exc).__name__})"
            if method != "GET":
                raise MaybeDelivered(problem) from None
            raise PlatformError(problem, retryable=True) from None


def _json(text: str) -> object:
    if not text.strip():
        return {}
    try:
        return json.loads(text)
    except ValueError:
        return {"message": text[:200]}
