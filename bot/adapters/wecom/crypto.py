"""The AI bot's callback crypto (回调和回复的加解密方案), with ``cryptography``.

The EncodingAESKey is 43 base64 characters: with "=" appended it decodes to the 32-byte AES-256 key, and
the IV is the key's first 16 bytes. A plaintext is ``random(16) + length(4, big-endian) + message +
receive id`` (the receive id of an enterprise's own AI bot is ""), PKCS#7-padded to 32-byte blocks (not
AES's 16), AES-256-CBC encrypted, base64 encoded. The signature is the SHA-1 hex of the token, timestamp,
nonce and ciphertext sorted as strings and joined.

Pictures (and files) a member sends are downloaded encrypted (智能机器人长连接, 多媒体资源解密): the file's
bytes, PKCS#7-padded to 32-byte blocks, AES-256-CBC encrypted with IV = the key's first 16 bytes — no random
prefix, no length. The key is the ``aeskey`` that comes with each URL on the long connection, and the
EncodingAESKey in callback mode.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32  # WeCom pads to 32 bytes, which PKCS#7 unpadding must accept


class CryptoError(Exception):
    """A callback that fails its signature or cannot be decrypted; the message never holds a secret."""


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    return hashlib.sha1("".join(sorted((token, timestamp, nonce, encrypted))).encode()).hexdigest()


def media_key(aeskey: str) -> bytes:
    """The 32-byte AES key of a media ``aeskey`` (base64, its "=" padding left off as in the EncodingAESKey)."""
    try:
        key = base64.b64decode(aeskey + "=" * (-len(aeskey) % 4), validate=True)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise CryptoError("not a media key")
    return key


def decrypt_media(data: bytes, key: bytes) -> bytes:
    """A downloaded media file's bytes; CryptoError when ``data`` is not that file encrypted with ``key``."""
    if not data or len(data) % 16:
        raise CryptoError("not a ciphertext")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    padded = decryptor.update(data) + decryptor.finalize()
    pad = padded[-1]
    if not 1 <= pad <= BLOCK or padded[-pad:] != bytes([pad]) * pad:
        raise CryptoError("bad padding (wrong key?)")
    return padded[:-pad]


class CallbackCrypto:
    def __init__(self, token: str, encoding_aes_key: str, receive_id: str = ""):
        try:
            key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except ValueError:
            key = b""
        if len(encoding_aes_key) != 43 or len(key) != 32:
            raise ValueError("the EncodingAESKey must be the 43 characters the admin console shows")
        self.token, self.key, self.receive_id = token, key, receive_id.encode()

    def verify(self, msg_signature: str, timestamp: str, nonce: str, encrypted: str) -> None:
        expected = signature(self.token, timestamp, nonce, encrypted)
        if not hmac.compare_digest(expected, msg_signature or ""):
            raise CryptoError("bad signature")

    def decrypt(self, encrypted: str) -> str:
        try:
            raw = base64.b64decode(encrypted, validate=True)
            decryptor = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16])).decryptor()
            padded = decryptor.update(raw) + decryptor.finalize()
        except ValueError:
            raise CryptoError("not a ciphertext") from None
        pad = padded[-1] if padded else 0
        if not 1 <= pad <= BLOCK or padded[-pad:] != bytes([pad]) * pad:
            raise CryptoError("bad padding")
        plain = padded[:-pad]
        if len(plain) < 20:
            raise CryptoError("too short")
        (length,) = struct.unpack(">I", plain[16:20])
        message, receive_id = plain[20:20 + length], plain[20 + length:]
        if len(message) != length or receive_id != self.receive_id:
            raise CryptoError("wrong length or receive id")
        try:
            return message.decode()
        except UnicodeDecodeError:
            raise CryptoError("not UTF-8") from None

    def encrypt(self, message: str, random: bytes | None = None) -> str:
        body = message.encode()
        plain = (random or os.urandom(16)) + struct.pack(">I", len(body)) + body + self.receive_id
        pad = BLOCK - len(plain) % BLOCK
        encryptor = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16])).encryptor()
        return base64.b64encode(encryptor.update(plain + bytes([pad]) * pad) + encryptor.finalize()).decode()

    def open(self, msg_signature: str, timestamp: str, nonce: str, encrypted: str) -> str:
        """Verify then decrypt a callback's ``encrypt`` field (or URL verification's ``echostr``)."""
        self.verify(msg_signature, timestamp, nonce, encrypted)
        return self.decrypt(encrypted)

    def seal(self, message: str, timestamp: str, nonce: str) -> dict:
        """An encrypted reply: the JSON body WeCom expects in answer to a callback."""
        encrypted = self.encrypt(message)
        return {"encrypt": encrypted, "msgsignature": signature(self.token, timestamp, nonce, encrypted),
                "timestamp": int(timestamp) if timestamp.isdigit() else timestamp, "nonce": nonce}
