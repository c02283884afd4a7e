"""Test pictures made here with real libraries: QR codes (the ``qrcode`` package) to invitations, contact
cards, payments, unknown and allowed sites; posters of ad text and screenshots of ordinary chat drawn with
Pillow in the Noto Sans CJK font mplfonts ships; photos of nothing in particular; noisy, rotated and
JPEG-compressed variants. Seeded: the same seed gives the same pictures.

The texts come from the anti-ad corpus (tests/data/ads_corpus.jsonl): posters carry its ads, screenshots
its ordinary messages, so the pictures are as hard as the text corpus is.
"""

from __future__ import annotations

import io
import json
import random
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import qrcode
from PIL import Image, ImageDraw, ImageFilter, ImageFont

CORPUS = Path(__file__).resolve().parent / "data" / "ads_corpus.jsonl"
JPEG = bytes([0xFF, 0xD8])
FONT = files("mplfonts") / "fonts" / "NotoSansCJKsc-Regular.otf"

QR_ADS = {
    "qr_invite": ["https://weixin.qq.com/g/A{t}", "https://qm.qq.com/cgi-bin/qm/qr?k={t}&jump_from=webapi", "https://t.me/+{t}",
                  "https://jq.qq.com/?_wv=1027&k={t}", "https://work.weixin.qq.com/gm/{t}"],
    "qr_contact": ["https://u.wechat.com/{t}", "https://work.weixin.qq.com/ca/cawcde{t}", "BEGIN:VCARD\nVERSION:3.0\nFN:王老师\nTEL:1380013{n}\nEND:VCARD",
                   "https://qm.qq.com/q/{t}"],
    "qr_payment": ["wxp://f2f0{t}", "https://qr.alipay.com/fkx{t}", "https://payapp.weixin.qq.com/qr/{t}"],
    "qr_link": ["https://{t}.top/reg?inv=88", "http://hb-{t}.vip/", "https://www.{t}.xyz/app.apk", "http://fuli{n}.cc/x"],
}
QR_ALLOWED = ["https://mp.weixin.qq.com/s/{t}", "https://www.bilibili.com/video/BV1{t}", "https://github.com/{t}/{t}",
              "https://www.zhihu.com/question/{n}", "https://docs.python.org/3/library/re.html", "https://www.gov.cn/zhengce/{n}.htm"]


@dataclass(frozen=True)
class Sample:
    kind: str  # qr_ad, qr_allowed, poster_ad, screenshot, photo
    label: str  # ad | ok
    data: bytes
    about: str  # what it shows: the QR payload or the text


def _token(rng: random.Random, n: int = 10) -> str:
    return "".join(rng.choice("abcdefghjkmnpqrstuvwxyz23456789") for _ in range(n))


def _fill(template: str, rng: random.Random) -> str:
    return template.format(t=_token(rng), n=rng.randint(1000, 9999))


def _encode(picture: Image.Image, rng: random.Random, noisy: bool) -> bytes:
    """PNG, or for the noisy variants a rotated, blurred, JPEG-compressed photo of it."""
    if noisy:
        picture = picture.rotate(rng.uniform(-12, 12), expand=True, fillcolor=(235, 235, 230))
        picture = picture.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.9)))
        out = io.BytesIO()
        picture.save(out, "JPEG", quality=rng.randint(45, 75))
        return out.getvalue()
    out = io.BytesIO()
    picture.save(out, "PNG")
    return out.getvalue()


def qr_picture(payload: str, rng: random.Random, caption: str = "") -> Image.Image:
    code = qrcode.QRCode(border=2, box_size=rng.randint(5, 8), error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(payload)
    image = code.make_image(fill_color="black", back_color="white").get_image().convert("RGB")
    canvas = Image.new("RGB", (max(image.width + 80, 400), image.height + 140), _pale(rng))
    canvas.paste(image, (40, 40))
    if caption:
        ImageDraw.Draw(canvas).text((40, image.height + 60), caption, font=ImageFont.truetype(str(FONT), 28), fill=(30, 30, 30))
    return canvas


def _pale(rng: random.Random) -> tuple[int, int, int]:
    return tuple(rng.randint(225, 255) for _ in range(3))


def text_picture(text: str, rng: random.Random, poster: bool) -> Image.Image:
    """A poster (big coloured type) or a chat screenshot (bubbles of small type) of ``text``."""
    size = rng.randint(30, 44) if poster else rng.randint(22, 28)
    font = ImageFont.truetype(str(FONT), size)
    width = rng.choice([720, 800, 900])
    per_line = max(8, (width - 80) // size)
    lines = [text[i:i + per_line] for i in range(0, len(text), per_line)] or [" "]
    height = 120 + len(lines) * (size + 18) + (rng.randint(40, 160) if poster else 60)
    canvas = Image.new("RGB", (width, height), _pale(rng) if poster else (237, 237, 237))
    draw = ImageDraw.Draw(canvas)
    top = 60
    if not poster:  # a chat bubble with a name above it, as a screenshot shows
        draw.text((40, 20), rng.choice(["小王", "李姐", "群友A", "张老师"]), font=ImageFont.truetype(str(FONT), 18), fill=(120, 120, 120))
        draw.rounded_rectangle((30, 50, width - 30, 70 + len(lines) * (size + 18)), 12, fill=(255, 255, 255))
    colour = rng.choice([(200, 20, 20), (20, 20, 160), (10, 10, 10), (150, 60, 0)]) if poster else (20, 20, 20)
    for n, line in enumerate(lines):
        draw.text((45, top + n * (size + 18)), line, font=font, fill=colour)
    return canvas


def png(picture: Image.Image) -> bytes:
    """A picture as the PNG bytes a member would send."""
    out = io.BytesIO()
    picture.save(out, "PNG")
    return out.getvalue()


AD_POSTER_TEXT = "兼职刷单日结，一单一结，加微信 xw886688 详聊"


def ad_poster() -> bytes:
    """One poster ad, the same every run (the peer tests of each platform send it)."""
    return png(text_picture(AD_POSTER_TEXT, random.Random(7), poster=True))


def photo(rng: random.Random) -> Image.Image:
    """A picture of nothing in particular: gradients and shapes, as a phone photo of a view or a meal."""
    width, height = rng.choice([(800, 600), (640, 480), (1024, 768)])
    canvas = Image.new("RGB", (width, height), _pale(rng))
    draw = ImageDraw.Draw(canvas)
    for y in range(0, height, 4):
        shade = int(120 + 100 * y / height)
        draw.line((0, y, width, y), fill=(shade, rng.randint(100, 200), 255 - shade // 2))
    for _ in range(rng.randint(5, 15)):
        x, y = rng.randint(0, width), rng.randint(0, height)
        r = rng.randint(20, 150)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rng.randint(0, 255) for _ in range(3)))
    return canvas


def corpus(label: str, split: str) -> list[str]:
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r["text"] for r in rows if r["label"] == label and r["split"] == split]


def samples(count: int = 20, seed: int = 20261203, split: str = "test") -> list[Sample]:
    """``count`` pictures of each kind (QR ads spread over their classes), a third of them noisy."""
    rng = random.Random(seed)
    ads, ordinary = corpus("ad", split), corpus("ok", split)
    out: list[Sample] = []
    for n in range(count):
        noisy = n % 3 == 2
        kind = list(QR_ADS)[n % len(QR_ADS)]
        payload = _fill(rng.choice(QR_ADS[kind]), rng)
        caption = rng.choice(["扫码进群领资料", "长按识别二维码", "扫一扫 加好友", ""])
        out.append(Sample("qr_ad", "ad", _encode(qr_picture(payload, rng, caption), rng, noisy), payload))
        payload = _fill(rng.choice(QR_ALLOWED), rng)
        out.append(Sample("qr_allowed", "ok", _encode(qr_picture(payload, rng, rng.choice(["文章链接", "视频在这", ""])), rng, noisy), payload))
        text = rng.choice(ads)
        out.append(Sample("poster_ad", "ad", _encode(text_picture(text, rng, poster=True), rng, noisy), text))
        text = rng.choice(ordinary)
        out.append(Sample("screenshot", "ok", _encode(text_picture(text, rng, poster=False), rng, noisy), text))
        out.append(Sample("photo", "ok", _encode(photo(rng), rng, noisy), ""))
    return out


def write(folder: Path, pictures: list[Sample]) -> list[tuple[Path, Sample]]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for n, sample in enumerate(pictures):
        suffix = "jpg" if sample.data.startswith(JPEG) else "png"
        path = folder / f"{n:04d}_{sample.kind}.{suffix}"
        path.write_bytes(sample.data)
        written.append((path, sample))
    return written
