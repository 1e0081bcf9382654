"""The Prompt Templates tab hosted in a plain gradio app, with placeholder images instead of a Stable Diffusion model.

The browser tests (test_tab_in_plain_gradio.py) start it in a subprocess; to look at it by hand, from the repository:

    PYTHONPATH=. .venvs/forge/bin/python tests/browser/app.py --port 7860 --library-dir /tmp/pt-library

The library (a SQLite file in --library-dir, a new temporary folder by default) gets the bundled examples; wildcards
come from the repository's wildcards/ folder. Each "generated" image is a flat colour with its prompt written on it.
Queued jobs run in the app's jobs worker (its files beside the library), through a placeholder generation port that
takes --seconds-per-image for each image, so their progress can be watched.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import tempfile
import textwrap
import time
import zlib
from collections.abc import Sequence
from pathlib import Path

import gradio as gr
from PIL import Image, ImageDraw, ImageFont

from sd_prompt_templates.plan import GenerationPlan, WebUIReply
from sd_prompt_templates.service import PromptService
from sd_prompt_templates.settings import Settings
from sd_prompt_templates.ui import layout
from sd_prompt_templates.ui.ports import TabPorts

REPO = Path(__file__).resolve().parents[2]
WILDCARDS = REPO / "wildcards"
STYLE = REPO / "style.css"
IMAGE_SIZE = (256, 256)
LIBRARY_FILE = "templates.sqlite3"  # in --library-dir
GRADIO_3 = gr.__version__.startswith("3.")


def placeholder_image(prompt: str, seed: int, size: tuple[int, int] = IMAGE_SIZE) -> Image.Image:
    """A flat colour picked from the prompt, with the prompt and seed written on it."""
    crc = zlib.crc32(prompt.encode("utf-8"))
    background = (64 + crc % 128, 64 + (crc >> 8) % 128, 64 + (crc >> 16) % 128)
    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    lines = [*textwrap.wrap(prompt, width=max(12, size[0] // 9)), f"seed {seed}"]
    draw.multiline_text((8, 8), "\n".join(lines), fill=(255, 255, 255), font=caption_font(16), spacing=4)
    return image


def caption_font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1
    except TypeError:  # older Pillow: its one small bitmap font
        return ImageFont.load_default()


def placeholder_generate(plan: GenerationPlan, task_id: str) -> tuple[list[Image.Image], list[str]]:
    """The tab's `generate` port: one image per planned prompt, and an infotext like the WebUI's for each."""
    params = plan.payload
    size = (int(params.get("width") or 512) // 2, int(params.get("height") or 512) // 2)
    images = [placeholder_image(p, s, size) for p, s in zip(plan.prompts, plan.seeds, strict=False)]
    shown = ("sampler_name", "steps", "cfg_scale", "width", "height")
    settings = {**{k: params[k] for k in shown if params.get(k) is not None}, **plan.infotext}
    infotexts = []
    for prompt, negative, seed in zip(plan.prompts, plan.negative_prompts, plan.seeds, strict=False):
        fields = ", ".join(f"{k}: {v}" for k, v in {"Seed": seed, **settings}.items() if "\n" not in str(v))
        infotexts.append(f"{prompt}\nNegative prompt: {negative}\n{fields}" if negative else f"{prompt}\n{fields}")
    return images, infotexts


class PlaceholderJobPort:
    """The jobs' generation port (the WebUI's txt2img in the WebUI): the placeholder images of a batch as the
    WebUI answers, base64 PNGs and its info with their infotexts, after `seconds_per_image` each."""

    def __init__(self, seconds_per_image: float) -> None:
        self.seconds_per_image = seconds_per_image

    def run(self, plan: GenerationPlan, task_id: str) -> WebUIReply:
        images, infotexts = placeholder_generate(plan, task_id)
        time.sleep(self.seconds_per_image * len(images))
        info = {"all_prompts": plan.prompts, "all_seeds": plan.seeds, "infotexts": infotexts}
        return WebUIReply(images=[png_base64(image) for image in images], info=json.dumps(info))

    def interrupt(self, task_id: str) -> bool:
        return False


def png_base64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def build(library_dir: Path, seconds_per_image: float = 0.3) -> gr.Blocks:
    settings = Settings(library_path=library_dir / LIBRARY_FILE, wildcard_dirs=(WILDCARDS,))
    service = PromptService(lambda: settings, PlaceholderJobPort(seconds_per_image))
    service.store().install_examples()
    service.jobs().start()  # as the WebUI glue does when the app starts
    blocks = layout.build(TabPorts(service=lambda: service, generate=placeholder_generate))
    blocks.css = STYLE.read_text(encoding="utf-8")  # as the WebUI adds the extension's style.css to the page
    return blocks


def main(port: int, library_dir: Path | None = None, seconds_per_image: float = 0.3) -> None:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    library_dir = library_dir or Path(tempfile.mkdtemp(prefix="prompt-templates-browser-"))
    library_dir.mkdir(parents=True, exist_ok=True)
    print(f"Prompt Templates plain gradio app: gradio {gr.__version__}, library in {library_dir}", flush=True)
    # As A1111 does: gradio 3 runs events on `concurrency_count` workers, and the jobs' list, while jobs run, keeps
    # one (ui/events.py, Poll); gradio 4 limits each event instead.
    queue = {"concurrency_count": 64} if GRADIO_3 else {}
    blocks = build(library_dir, seconds_per_image).queue(**queue)
    blocks.launch(server_name="127.0.0.1", server_port=port, show_api=False)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--library-dir", type=Path, default=None, help="a new temporary folder if not given")
    parser.add_argument("--seconds-per-image", type=float, default=0.3, help="how long a queued job's image takes")
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    main(args.port, args.library_dir, args.seconds_per_image)
