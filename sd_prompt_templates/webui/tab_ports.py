"""The WebUI's side of the tab: in-process generation under the queue lock with a progress task, interrupt,
samplers, and the standard "Send to txt2img/img2img" buttons."""

from __future__ import annotations

from contextlib import closing
from typing import Any

from modules import call_queue, infotext_utils, processing, sd_samplers, shared

from sd_prompt_templates.planning import auto_batch_size, batches
from sd_prompt_templates.webui import runtime
from sd_prompt_templates.webui.tab import TabPorts
from sd_prompt_templates.webui.tab_handlers import Preview


def generate(preview: Preview, params: dict[str, Any], extra: dict[str, Any]) -> tuple[list[Any], list[str]]:
    """One txt2img run with a prompt per image: the WebUI takes prompt lists as they are."""
    opts = shared.opts
    images = len(preview.prompts)
    batch_size = auto_batch_size(images, params, runtime.service().settings().generation)
    p = processing.StableDiffusionProcessingTxt2Img(
        sd_model=shared.sd_model,
        outpath_samples=opts.outdir_samples or opts.outdir_txt2img_samples,
        outpath_grids=opts.outdir_grids or opts.outdir_txt2img_grids,
        prompt=list(preview.prompts),
        negative_prompt=list(preview.negatives),
        seed=preview.seeds[0],
        batch_size=batch_size,
        n_iter=batches(images, batch_size),
        do_not_save_grid=True,
        **{k: v for k, v in params.items() if v is not None},
    )
    p.extra_generation_params.update(extra)
    with closing(p):
        processed = processing.process_images(p)
    return processed.images, processed.infotexts


def send_buttons(infotext: Any, gallery: Any) -> None:
    buttons = infotext_utils.create_buttons(["txt2img", "img2img"])
    for tabname, button in buttons.items():
        infotext_utils.register_paste_params_button(
            infotext_utils.ParamBinding(
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
        wrap_generation=lambda fn: call_queue.wrap_gradio_gpu_call(fn, extra_outputs=[None, [], ""]),
        interrupt=lambda: shared.state.interrupt(),
        samplers=lambda: [s.name for s in sd_samplers.visible_samplers()],
        js_submit="promptTemplates.submit",
        send_buttons=send_buttons,
    )
