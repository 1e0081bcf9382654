"""The images a job saves: decoded from the WebUI's base64, kept as the WebUI made them, and always carrying their
infotext in the PNG's `parameters` text chunk (where the WebUI's PNG Info tab and every other reader look for it).

A PNG is changed at the chunk level, not decoded and encoded again: that keeps the WebUI's bytes, costs no time on
the generation thread, and needs nothing but the standard library. Only a non-PNG image (the WebUI's API answers in
its samples format, which may be JPEG or WebP) is converted, with Pillow, which every WebUI ships."""

from __future__ import annotations

import base64
import io
import struct
import zlib
from collections.abc import Iterator

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
INFOTEXT_KEY = "parameters"
TEXT_CHUNKS = (b"tEXt", b"iTXt", b"zTXt")


class ImageError(ValueError):
    """The WebUI sent something that is not an image we can save."""


def decode_image(data: str) -> bytes:
    """The bytes of a base64 image as the WebUI's API sends it (a `data:` URL prefix is allowed)."""
    if data.startswith("data:"):
        data = data.partition(",")[2]
    try:
        return base64.b64decode(data, validate=True)
    except ValueError as exc:
        raise ImageError(f"an image is not valid base64: {exc}") from None


def is_png(data: bytes) -> bool:
    return data.startswith(PNG_SIGNATURE)


def png_with_infotext(data: bytes, infotext: str) -> bytes:
    """The image as a PNG whose `parameters` chunk holds its infotext: unchanged if it has one already (the WebUI
    wrote it), the chunk added if not, converted from another format if need be."""
    if not is_png(data):
        return _converted_to_png(data, infotext)
    if not infotext or INFOTEXT_KEY in png_text(data):
        return data
    return _insert_before_data(data, _text_chunk(INFOTEXT_KEY, infotext))


def png_text(data: bytes) -> dict[str, str]:
    """The PNG's text chunks (tEXt, iTXt, zTXt) by keyword."""
    texts: dict[str, str] = {}
    for kind, body in _chunks(data):
        if kind in TEXT_CHUNKS:
            key, value = _read_text(kind, body)
            texts.setdefault(key, value)
    return texts


def _chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    if not is_png(data):
        raise ImageError("not a PNG image")
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(data):
            raise ImageError("the PNG is truncated")
        yield kind, data[pos + 8 : pos + 8 + length]
        if kind == b"IEND":
            return
        pos = end
    raise ImageError("the PNG has no end")


def _read_text(kind: bytes, body: bytes) -> tuple[str, str]:
    key, _, rest = body.partition(b"\0")
    name = key.decode("latin-1")
    if kind == b"tEXt":
        return name, rest.decode("latin-1")
    if kind == b"zTXt":
        return name, zlib.decompress(rest[1:]).decode("latin-1")
    compressed, rest = rest[0], rest[2:]  # iTXt: flag, method, language\0, translated keyword\0, text
    rest = rest.partition(b"\0")[2].partition(b"\0")[2]
    return name, (zlib.decompress(rest) if compressed else rest).decode("utf-8")


def _text_chunk(key: str, value: str) -> bytes:
    """tEXt when the text is Latin-1, else iTXt (UTF-8), as Pillow and so the WebUI write it."""
    try:
        kind, body = b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1")
    except UnicodeEncodeError:
        kind, body = b"iTXt", key.encode("latin-1") + b"\0\0\0\0\0" + value.encode("utf-8")
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _insert_before_data(data: bytes, chunk: bytes) -> bytes:
    """The PNG with `chunk` before its first image data chunk, where readers that stop there still find it."""
    pos = len(PNG_SIGNATURE)
    for kind, body in _chunks(data):
        if kind in (b"IDAT", b"IEND"):
            break
        pos += 12 + len(body)
    return data[:pos] + chunk + data[pos:]


def _converted_to_png(data: bytes, infotext: str) -> bytes:
    try:
        from PIL import Image, PngImagePlugin
    except ImportError:  # pragma: no cover - every WebUI ships Pillow
        raise ImageError("the image is not a PNG, and Pillow is not there to convert it") from None
    try:
        with Image.open(io.BytesIO(data)) as image:
            info = PngImagePlugin.PngInfo()
            text = infotext or str(image.info.get(INFOTEXT_KEY) or "")
            if text:
                info.add_text(INFOTEXT_KEY, text)
            out = io.BytesIO()
            image.save(out, format="PNG", pnginfo=info)
    except OSError as exc:
        raise ImageError(f"the image cannot be read: {exc}") from None
    return out.getvalue()
