"""The wecom adapter's pure parts: its callback crypto against wechatpy's (both directions), mention
stripping, error codes, and the config section."""

from __future__ import annotations

import json

import pytest
import xmltodict
from pydantic import ValidationError
from wechatpy.enterprise.crypto import WeChatCrypto

from bot.adapters.base import FloodError, PlatformError
from bot.adapters.wecom.crypto import CallbackCrypto, CryptoError
from bot.adapters.wecom.errors import AnswerExpired, error_for
from bot.adapters.wecom.events import strip_mention
from bot.adapters.wecom.config import WecomConfig
from bot.adapters.wecom.webhook import chunks

TOKEN, KEY = "QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"


def test_our_crypto_opens_what_wechatpy_sealed():
    plain = json.dumps({"msgid": "m1", "text": {"content": "@机器人 签到"}}, ensure_ascii=False)
    sealed = xmltodict.parse(WeChatCrypto(TOKEN, KEY, "").encrypt_message(plain, "nonce1", "1700000000"))["xml"]
    ours = CallbackCrypto(TOKEN, KEY)
    assert ours.open(sealed["MsgSignature"], sealed["TimeStamp"], sealed["Nonce"], sealed["Encrypt"]) == plain
    with pytest.raises(CryptoError):
        ours.open("0" * 40, sealed["TimeStamp"], sealed["Nonce"], sealed["Encrypt"])
    with pytest.raises(CryptoError):  # the right signature over someone else's token
        CallbackCrypto("other", KEY).open(sealed["MsgSignature"], sealed["TimeStamp"], sealed["Nonce"], sealed["Encrypt"])


def test_wechatpy_opens_what_our_crypto_sealed():
    plain = json.dumps({"msgtype": "stream", "stream": {"id": "s1", "finish": True, "content": "签到成功" * 50}}, ensure_ascii=False)
    reply = CallbackCrypto(TOKEN, KEY).seal(plain, "1700000000", "nonce2")
    opened = WeChatCrypto(TOKEN, KEY, "").decrypt_message({"Encrypt": reply["encrypt"]}, reply["msgsignature"],
                                                           str(reply["timestamp"]), reply["nonce"])
    assert opened == plain


def test_a_wrong_encoding_aes_key_is_refused():
    with pytest.raises(ValueError, match="43 characters"):
        CallbackCrypto(TOKEN, KEY[:-1])


@pytest.mark.parametrize("text, name, bare", [
    ("@机器人 签到", "机器人", "签到"),
    ("@机器人\u2005/top", "机器人", "/top"),
    ("一马当先 @机器人", "机器人", "一马当先"),
    ("@机器人 @小王 看这个", "机器人", "@小王 看这个"),
    ("@机器人二号 签到", "机器人", "@机器人二号 签到"),  # another bot's name that starts with ours
    ("@Qunbot 签到", "", "签到"),
    ("签到 @Qunbot", "", "签到 @Qunbot"),  # without the name only a leading mention is known to be ours
])
def test_the_mention_that_addressed_the_bot_is_stripped(text, name, bare):
    assert strip_mention(text, name) == bare


def test_error_codes_become_the_contracts_exceptions():
    flood = error_for(45009, "api freq out of limit", "webhook of group g1", wait=60)
    assert isinstance(flood, FloodError) and flood.retry_after == 60
    invalid = error_for(93000, "invalid webhook url", "webhook of group g1")
    assert type(invalid) is PlatformError and not invalid.retryable and "webhook key" in str(invalid)
    assert isinstance(error_for(846605, "invalid req_id", "answer"), AnswerExpired)
    assert error_for(-1, "system busy", "x").retryable
    other = error_for(40058, "bad", "x")
    assert not other.retryable and "errcode 40058: bad" in str(other)


def test_long_texts_are_cut_for_the_webhook_at_line_ends():
    text = "\n".join(f"{i}. 第{i}名" for i in range(400))
    pieces = chunks(text)
    assert all(len(p.encode()) <= 2048 for p in pieces) and "\n".join(pieces) == text


def test_the_long_connection_needs_a_bot_id():
    with pytest.raises(ValidationError, match="bot_id"):
        WecomConfig()
    assert WecomConfig(mode="callback").bot_id == ""
