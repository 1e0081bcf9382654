"""The WebUI's side of the tab (ui/): generation through the one generation port (the WebUI's own txt2img, under its
queue lock, as a progress task the page follows), interrupt, samplers, and the "Send to txt2img/img2img" buttons."""

from __future__ import annotations

import base64
import io
from typing import Any

from modules import call_queue, shared
from PIL import Image

from sd_prompt_templates.plan import GenerationPlan
from sd_prompt_templates.ui.ports import TabPorts
from sd_prompt_templates.webui import compat, runtime


def generate(plan: GenerationPlan, task_id: str) -> tuple[list[Any], list[str]]:
    """The plan the tab made, run as the REST API runs one: the same port, the same Script applying it."""
    generated = runtime.service().run(plan, task_id or None)
    made, infotexts = generated.made()  # without the grid, which the tab's saved generations may bring
    images = [Image.open(io.BytesIO(base64.b64decode(data))) for data in made[: plan.images]]
    return images, infotexts[: plan.images]


def send_buttons(infotext: Any, gallery: Any) -> None:
    buttons = compat.paste_buttons.create_buttons(["txt2img", "img2img"])
    for tabname, button in buttons.items():
        compat.paste_buttons.register_paste_params_button(
            compat.paste_buttons.ParamBinding(
                paste_button=button,
                tabname=tabname,
                source_text_component=infotext,
                source_image_component=gallery if tabname == "img2img" else None,
            )
        )


def ports() -> TabPorts:
    return TabPorts(
        service=runtime.service,
        generate=generate,
        # no queue lock here: the WebUI's handler takes it, and the task id the page follows, itself
        wrap_generation=lambda fn: call_queue.wrap_gradio_call(fn, extra_outputs=[None, [], ""], add_stats=True),
        interrupt=lambda: shared.state.interrupt(),
        samplers=compat.sampler_names,
        default_sampler=compat.default_sampler,
        js_submit="promptTemplates.submit",
        send_buttons=send_buttons,
    )
