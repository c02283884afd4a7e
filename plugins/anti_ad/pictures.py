"""What a picture's QR codes lead to, as ad signals (the picture's text goes through the text scanner).

A QR code that opens a group invitation, a personal contact card or a payment is an ad signal strong
enough alone; one that leads to a site outside ``allow_domains`` too (a code in a group chat is rarely a
member's link); one that leads to an allowed site is nothing. Every payload is also read as
the picture's text (a WeChat id written in a code is a contact like any other).
"""

from __future__ import annotations

from bot.adscan import INVITE_HOSTS, Signal, fold

# Lower-case prefixes of the payload (scheme dropped for http links).
CONTACT = ("u.wechat.com/", "weixin.qq.com/r/", "work.weixin.qq.com/u/", "work.weixin.qq.com/ca/", "qm.qq.com/q/",
           "begin:vcard", "mecard:", "wxid_")
INVITE = (*INVITE_HOSTS, "work.weixin.qq.com/gm/", "qun.qq.com/qrcode", "weixin://dl/chat")
PAYMENT = ("wxp://", "weixin://wxpay", "qr.alipay.com", "alipays://", "payapp.weixin.qq.com", "qr.95516.com",
           "mobile.qq.com/qrcode", "i.qianbao.qq.com")
SCHEMES = ("https://", "http://")


def qr_signals(codes: tuple[str, ...], allowed: frozenset[str], weight: int) -> list[Signal]:
    """The signals of the codes that open an invitation, a contact card, a payment or a site not allowed
    (the payloads themselves are also read as the picture's text)."""
    signals = []
    for code in codes:
        payload = fold(code.strip())
        bare = payload
        for scheme in SCHEMES:
            if bare.startswith(scheme):
                bare = bare[len(scheme):]
        host = bare.split("/", 1)[0].split(":", 1)[0].split("?", 1)[0]
        shown = code.strip()[:200]
        if bare.startswith(PAYMENT):
            signals.append(Signal("qr_payment", shown, weight))
        elif bare.startswith(INVITE):
            signals.append(Signal("qr_invite", shown, weight))
        elif bare.startswith(CONTACT):
            signals.append(Signal("qr_contact", shown, weight))
        elif payload.startswith(SCHEMES) or ("." in host and " " not in host and "/" in bare):
            if not _allowed(host, allowed):
                signals.append(Signal("qr_link", shown, weight))
    return signals


def _allowed(host: str, allowed) -> bool:
    parts = host.split(".")
    return any(".".join(parts[i:]) in allowed for i in range(len(parts) - 1))
