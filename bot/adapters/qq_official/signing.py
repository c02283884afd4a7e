"""Ed25519 signing of webhook callbacks (QQ Bot API v2, "安全和授权" / sign.md).

The key pair comes from the bot secret: the secret repeated until it is at least 32 bytes, cut to 32,
is the Ed25519 seed. QQ signs ``timestamp + raw body`` of every callback (headers
X-Signature-Timestamp, X-Signature-Ed25519 in hex); we answer the URL validation (op 13) by signing
``event_ts + plain_token`` with the private key.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

SEED_SIZE = 32
SIGNATURE_SIZE = 64


def seed_of(secret: str) -> bytes:
    if not secret:
        raise ValueError("empty bot secret")
    seed = secret.encode()
    while len(seed) < SEED_SIZE:
        seed += seed  # the documented algorithm doubles the secret (strings.Repeat(seed, 2))
    return seed[:SEED_SIZE]


class Signer:
    """The bot's key pair; holds the private key, never the secret text."""

    def __init__(self, secret: str):
        self._key = Ed25519PrivateKey.from_private_bytes(seed_of(secret))
        self._public = self._key.public_key()

    def sign(self, message: bytes) -> str:
        return self._key.sign(message).hex()

    def validation_answer(self, plain_token: str, event_ts: str) -> dict:
        """The body that answers an op 13 callback-URL validation."""
        return {"plain_token": plain_token, "signature": self.sign(f"{event_ts}{plain_token}".encode())}

    def verify(self, timestamp: str, body: bytes, signature_hex: str) -> bool:
        """Whether ``signature_hex`` signs ``timestamp + body`` with this bot's key."""
        if not timestamp or not signature_hex:
            return False
        try:
            signature = bytes.fromhex(signature_hex)
        except ValueError:
            return False
        # The docs also refuse a signature whose last byte has its top three bits set (not canonical).
        if len(signature) != SIGNATURE_SIZE or signature[63] & 0xE0:
            return False
        try:
            self._public.verify(signature, timestamp.encode() + body)
        except InvalidSignature:
            return False
        return True
