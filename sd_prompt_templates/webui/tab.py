"""The "Prompt Templates" tab: a template library browser, editor, live preview and generator.

Built from gradio alone, with the WebUI's parts passed in as `TabPorts`, so the same tab runs inside the WebUI
(webui/callbacks.py) and in a plain gradio app for browser tests. Handlers are server-side (webui/tab_handlers.py):
the tab calls no REST route, so it works without --api and under --api-auth.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from sd_prompt_templates.service import PromptService
from sd_prompt_templates.webui import element_ids as ids
from sd_prompt_templates.webui import tab_handlers as h

GRADIO_4 = int(gr.__version__.split(".")[0]) >= 4
NO_TEMPLATE = ""


@dataclass
class TabPorts:
    service: Callable[[], PromptService]
    generate: h.Generate  # runs a plan as a progress task: the WebUI's generation port
    wrap_generation: Callable[[Callable[..., Any]], Callable[..., Any]] = lambda fn: fn
    interrupt: Callable[[], None] = lambda: None
    samplers: Callable[[], list[str]] = lambda: ["Euler a"]
    default_sampler: Callable[[], str | None] = lambda: None  # the one preselected; None: none
    js_submit: str | None = None  # a JS function that starts the progress bar and returns the task id first
    send_buttons: Callable[[Any, Any], None] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _js(name: str | None) -> dict[str, Any]:
    if not name:
        return {}
    return {"js": name} if GRADIO_4 else {"_js": name}


def build(ports: TabPorts) -> gr.Blocks:
    service = ports.service
    with gr.Blocks(analytics_enabled=False) as tab:
        original = gr.State(NO_TEMPLATE)  # the name the editor's template had when loaded; "" for a new one
        version = gr.State(None)
        infotexts = gr.State([])
        with gr.Row(elem_id=ids.tab("root")):
            with gr.Column(scale=1, elem_id=ids.tab("sidebar")):
                with gr.Row():
                    search = gr.Textbox(label="Search templates", elem_id=ids.tab("search"))
                    reload = gr.Button("\U0001f504", elem_id=ids.tab("reload"), elem_classes=[ids.TOOL_CLASS])
                templates = gr.Radio(h.safe_names(service), label="Templates", elem_id=ids.tab("list"))
                with gr.Row():
                    new = gr.Button("New", elem_id=ids.tab("new"))
                    duplicate = gr.Button("Duplicate", elem_id=ids.tab("duplicate"))
                with gr.Row():
                    confirm = gr.Checkbox(False, label="Yes, delete", elem_id=ids.tab("confirm-delete"))
                    delete = gr.Button("Delete", variant="stop", elem_id=ids.tab("delete"))
                with gr.Accordion("Import / export", open=False):
                    export = gr.Button("Export the library", elem_id=ids.tab("export"))
                    exported = gr.File(label="Export", interactive=False, elem_id=ids.tab("exported"))
                    upload = gr.File(
                        label="Import a file", type="binary", file_types=[".json"], elem_id=ids.tab("import-file")
                    )
                    replace = gr.Checkbox(False, label="Replace templates of the same name", elem_id=ids.tab("replace"))
                    load = gr.Button("Import", elem_id=ids.tab("import"))
                with gr.Accordion("Wildcards", open=False):
                    wildcard = gr.Dropdown(h.safe_wildcards(service), label="Wildcard", elem_id=ids.tab("wildcard"))
                    entries = gr.Textbox(label="Entries", lines=8, interactive=False, elem_id=ids.tab("entries"))
            with gr.Column(scale=3, elem_id=ids.tab("main")):
                status = gr.HTML(elem_id=ids.tab("status"))
                with gr.Row():
                    name = gr.Textbox(label="Name (a-z, 0-9, - and _)", elem_id=ids.tab("name"))
                    title = gr.Textbox(label="Title", elem_id=ids.tab("title"))
                    tags = gr.Textbox(label="Tags, comma-separated", elem_id=ids.tab("tags"))
                prompt = gr.Textbox(
                    label="Prompt template",
                    lines=4,
                    elem_id=ids.tab("prompt"),
                    elem_classes=[ids.EDITOR_CLASS],
                    placeholder="a {red|blue} ${animal} wearing a __colors__ hat",
                )
                negative = gr.Textbox(
                    label="Negative prompt template",
                    lines=2,
                    elem_id=ids.tab("negative"),
                    elem_classes=[ids.EDITOR_CLASS],
                )
                with gr.Accordion("Description, variables and default parameters", open=False):
                    description = gr.Textbox(label="Description", lines=2, elem_id=ids.tab("description"))
                    variables = gr.Dataframe(
                        value=[["", "text", "", "", ""]],
                        headers=h.VARIABLE_COLUMNS,
                        datatype="str",
                        col_count=(5, "fixed"),
                        row_count=(1, "dynamic"),
                        interactive=True,
                        label="Variables (type: text, choice or number; choices separated by |)",
                        elem_id=ids.tab("variables"),
                    )
                    parameters = gr.Textbox(
                        "{}", label="Default generation parameters (JSON)", lines=3, elem_id=ids.tab("parameters")
                    )
                save = gr.Button("Save", variant="primary", elem_id=ids.tab("save"))
                with gr.Row():
                    values = gr.Textbox(
                        label="Variable values: name = value, one a line",
                        lines=2,
                        elem_id=ids.tab("values"),
                        elem_classes=[ids.EDITOR_CLASS],
                    )
                    with gr.Column():
                        mode = gr.Radio(
                            ["random", "combinatorial"], value="random", label="Mode", elem_id=ids.tab("mode")
                        )
                        with gr.Row():
                            count = gr.Number(
                                4, precision=0, label="Images (0: every combination)", elem_id=ids.tab("count")
                            )
                            seed = gr.Number(-1, precision=0, label="Seed (-1: random)", elem_id=ids.tab("seed"))
                preview_button = gr.Button("Preview (Ctrl+Enter)", elem_id=ids.tab("preview-button"))
                preview_info = gr.HTML(elem_id=ids.tab("preview-info"))
                preview_rows = gr.Dataframe(
                    headers=["seed", "prompt", "negative prompt"], interactive=False, elem_id=ids.tab("preview")
                )
                with gr.Accordion("Generate", open=True):
                    with gr.Row():
                        samplers = h.safe_call(ports.samplers, ["Euler a"])
                        default_sampler = h.safe_call(ports.default_sampler, None)
                        sampler = gr.Dropdown(
                            samplers,
                            value=default_sampler if default_sampler in samplers else None,
                            label="Sampler",
                            elem_id=ids.tab("sampler"),
                        )
                        steps = gr.Number(20, precision=0, label="Steps", elem_id=ids.tab("steps"))
                        cfg = gr.Number(7.0, label="CFG scale", elem_id=ids.tab("cfg"))
                        width = gr.Number(512, precision=0, label="Width", elem_id=ids.tab("width"))
                        height = gr.Number(512, precision=0, label="Height", elem_id=ids.tab("height"))
                    with gr.Row():
                        generate = gr.Button("Generate", variant="primary", elem_id=ids.tab("generate"))
                        interrupt = gr.Button("Interrupt", elem_id=ids.tab("interrupt"))
                    with gr.Column(elem_id=ids.tab("gallery-container")):
                        gallery = gr.Gallery(label="Images", columns=4, elem_id=ids.tab("gallery"))
                    infotext = gr.Textbox(
                        label="Selected image's parameters", lines=3, interactive=False, elem_id=ids.tab("infotext")
                    )
                    generation_info = gr.HTML(elem_id=ids.tab("generation-info"))
                    names = gr.HTML(h.completion_names(service), elem_id=ids.tab("names"))
                    if ports.send_buttons is not None:
                        ports.send_buttons(infotext, gallery)

        editor = [name, title, description, prompt, negative, variables, parameters, tags]
        preview_inputs = [prompt, negative, values, mode, count, seed, variables]

        def refresh(query: str = "") -> Any:
            return gr.update(choices=h.safe_names(service, query))

        def select(chosen: str) -> list[Any]:
            if not chosen:
                return [gr.update()] * (len(editor) + 3)
            try:
                record = service().store().get(chosen)
            except Exception as exc:  # deleted meanwhile, or the library is unreadable
                return [gr.update()] * (len(editor) + 2) + [h.message(str(exc), "error")]
            return [
                *h.editor_from_record(record).fields(),
                record.name,
                record.version,
                h.message(f"Editing '{record.name}', version {record.version}."),
            ]

        def new_template() -> list[Any]:
            return [
                *h.Editor(variables=[["", "text", "", "", ""]]).fields(),
                NO_TEMPLATE,
                None,
                h.message("A new template: write it, then Save."),
                gr.update(value=None),
            ]

        def duplicate_template(current: str) -> list[Any]:
            return [
                h.duplicate_name(service(), current or "template"),
                NO_TEMPLATE,
                None,
                h.message("A copy: give it a name, then Save."),
                gr.update(value=None),
            ]

        def save_template(orig: str, ver: Any, query: str, *fields: Any) -> list[Any]:
            saved_name, saved_version, text = h.save(service(), orig, ver, h.Editor(*fields))
            listed: dict[str, Any] = {"choices": h.safe_names(service, query)}
            if (saved_name, saved_version) != (orig, ver):  # saved: show it as the one picked
                listed["value"] = saved_name
            return [saved_name, saved_version, text, gr.update(**listed)]

        def delete_template(orig: str, ver: Any, confirmed: bool, query: str) -> list[Any]:
            text = h.delete(service(), orig, ver, confirmed)
            gone = "Deleted" in text
            return [
                text,
                gr.update(choices=h.safe_names(service, query), value=None if gone else orig),
                NO_TEMPLATE if gone else orig,
                None if gone else ver,
                False,
            ]

        def run_preview(*args: Any) -> list[Any]:
            text, rows, memo = h.preview(service(), *args)
            return [text, rows or None, memo]

        def run_generation(*args: Any) -> list[Any]:
            images, texts, info = h.generate(service(), ports.generate, *args)
            return [images, texts, texts[0] if texts else "", info]

        previewed = gr.State(None)  # the seed the last preview drew: Generate makes what it showed

        def pick(texts: list[str], evt: gr.SelectData) -> str:
            return texts[evt.index] if 0 <= evt.index < len(texts) else ""

        search.change(refresh, [search], [templates])
        # .input fires on a user's pick only, not when Save or Delete set the list: typing is never overwritten
        templates.input(select, [templates], [*editor, original, version, status])
        new.click(new_template, [], [*editor, original, version, status, templates])
        duplicate.click(duplicate_template, [name], [name, original, version, status, templates])
        save.click(save_template, [original, version, search, *editor], [original, version, status, templates])
        delete.click(
            delete_template, [original, version, confirm, search], [status, templates, original, version, confirm]
        )
        export.click(lambda: h.export_file(service()), [], [exported])
        load.click(
            lambda data, rep, q: [h.import_file(service(), data, rep), refresh(q)],
            [upload, replace, search],
            [status, templates],
        )
        wildcard.change(lambda n: h.wildcard_entries(service(), n), [wildcard], [entries])

        def reload_lists(query: str) -> list[Any]:
            return [refresh(query), gr.update(choices=h.safe_wildcards(service)), h.completion_names(service)]

        reload.click(reload_lists, [search], [templates, wildcard, names])
        tab.load(reload_lists, [search], [templates, wildcard, names])  # a reloaded page lists today's templates
        edits = [component.change for component in (prompt, negative, values, mode, count, seed)]
        preview_outputs = [preview_info, preview_rows, previewed]
        if hasattr(gr, "on"):
            # gradio 4 runs each listener on its own, so an early edit's preview could land after a later one's:
            # one listener for all the edits, always finishing on the last, keeps the preview current.
            gr.on(edits, run_preview, preview_inputs, preview_outputs, trigger_mode="always_last")
        else:
            for edit in edits:
                edit(run_preview, preview_inputs, preview_outputs)
        preview_button.click(run_preview, preview_inputs, preview_outputs)
        task_id = gr.Textbox("", visible=False, elem_id=ids.tab("task-id"))  # JS fills it: a State would not reach
        generation_inputs = [task_id, *preview_inputs, sampler, steps, cfg, width, height, original, previewed]
        generate.click(
            ports.wrap_generation(run_generation),
            generation_inputs,
            [gallery, infotexts, infotext, generation_info],  # an HTML last: the WebUI appends errors and timings
            **_js(ports.js_submit),
        )
        interrupt.click(lambda: ports.interrupt(), [], [])
        gallery.select(pick, [infotexts], [infotext])
    return tab
