"""A job's image file always carries its infotext where the WebUI's PNG Info (Pillow) finds it, and keeps the
WebUI's own bytes when they have it already."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from sd_prompt_templates.jobs.images import ImageError, decode_image, png_text, png_with_infotext
from tests.unit.test_jobs_fakes import tiny_png


def pillow_text(data: bytes) -> dict[str, str]:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return {k: v for k, v in image.info.items() if isinstance(v, str)}


@pytest.mark.parametrize("infotext", ["a cat\nSteps: 20, Seed: 1", "ein Kätzchen, Größe 1", "猫\nSteps: 20 — ok"])
def test_the_infotext_is_added_so_pillow_reads_it(infotext):
    data = png_with_infotext(tiny_png({"other": "x"}), infotext)
    assert pillow_text(data) == {"other": "x", "parameters": infotext}
    assert png_text(data) == {"other": "x", "parameters": infotext}
    with Image.open(io.BytesIO(data)) as image:
        assert image.getpixel((0, 0)) == 128


def test_a_png_that_has_its_infotext_is_kept_byte_for_byte():
    data = tiny_png({"parameters": "from the WebUI"})
    assert png_with_infotext(data, "ours") is data
    assert png_with_infotext(tiny_png(), "") == tiny_png()


def test_a_jpeg_is_converted_to_png_with_the_infotext():
    out = io.BytesIO()
    Image.new("RGB", (4, 3), (200, 10, 10)).save(out, format="JPEG")
    data = png_with_infotext(out.getvalue(), "a red box")
    assert data.startswith(b"\x89PNG")
    assert pillow_text(data)["parameters"] == "a red box"
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (4, 3)


def test_base64_with_or_without_a_data_url_and_bad_input():
    data = tiny_png()
    text = base64.b64encode(data).decode()
    assert decode_image(text) == data == decode_image("data:image/png;base64," + text)
    with pytest.raises(ImageError):
        decode_image("not base64!")
    with pytest.raises(ImageError):
        png_with_infotext(b"neither png nor anything", "x")
    with pytest.raises(ImageError, match="truncated"):
        png_text(data[:20])
