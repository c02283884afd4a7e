"""A small gRPC client for one puppet-service endpoint (grpc.aio), with the token sent as
``authorization: Wechaty <token>`` on every call."""

from __future__ import annotations

from typing import AsyncIterator

import grpc

from bot.adapters.wechat.protocol import MESSAGE_CLASSES, METHODS, SERVICE, request

# Calls that fail with these may succeed when tried again (the server restarts, a network blip). A
# puppet's own refusal arrives as UNKNOWN with its message, and is not retried.
RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.ABORTED,
             grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.INTERNAL}


class PuppetClient:
    def __init__(self, endpoint: str, token: str, tls: bool, timeout: float):
        self.endpoint, self.timeout = endpoint, timeout
        self._metadata = (("authorization", f"Wechaty {token}"),)
        self._tls = tls
        self.channel: grpc.aio.Channel | None = None
        self._stubs: dict = {}

    def open(self) -> None:
        """A new channel (the old one, if any, is closed by ``close`` first)."""
        options = [("grpc.max_receive_message_length", 32 * 1024 * 1024),
                   # Reconnect fast when the server comes back; the adapter does its own backoff.
                   ("grpc.initial_reconnect_backoff_ms", 200), ("grpc.max_reconnect_backoff_ms", 2000)]
        if self._tls:
            self.channel = grpc.aio.secure_channel(self.endpoint, grpc.ssl_channel_credentials(), options=options)
        else:
            self.channel = grpc.aio.insecure_channel(self.endpoint, options=options)
        self._stubs = {}
        for method, (req, resp, streaming) in METHODS.items():
            make = self.channel.unary_stream if streaming else self.channel.unary_unary
            self._stubs[method] = make(SERVICE + method, request_serializer=MESSAGE_CLASSES[req].SerializeToString,
                                       response_deserializer=MESSAGE_CLASSES[resp].FromString)

    async def close(self) -> None:
        if self.channel is not None:
            channel, self.channel = self.channel, None
            await channel.close()

    async def call(self, method: str, timeout: float | None = None, **fields):
        """One unary call; raises grpc.aio.AioRpcError when the server refuses or cannot be reached."""
        return await self._stubs[method](request(method, **fields), metadata=self._metadata,
                                         timeout=timeout or self.timeout)

    def events(self) -> AsyncIterator:
        """The server's event stream (EventResponse messages) until it ends or fails."""
        return self.stream("Event")

    def stream(self, method: str, timeout: float | None = None, **fields):
        """A server-streaming call (iterate it; ``cancel()`` ends it early); ``timeout`` bounds the whole stream."""
        return self._stubs[method](request(method, **fields), metadata=self._metadata, timeout=timeout)


def transient(exc: grpc.aio.AioRpcError) -> bool:
    """Whether trying again soon may work: the service is unreachable or busy, or restarted and not yet
    logged in again (it refuses calls until the puppet's login)."""
    return exc.code() in RETRYABLE or "not logged in" in (exc.details() or "").lower()


def first_line(details: str | None) -> str:
    """A server's error details without the stack trace some services append."""
    return (details or "").strip().split("\n", 1)[0]
