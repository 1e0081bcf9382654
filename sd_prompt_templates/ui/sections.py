"""The tab's sections, each made by one function that returns a dataclass of its components. They only place
components: what the components do is wired in ui/events.py. Element ids and labels are what style.css,
javascript/ and the tests find them by."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from sd_prompt_templates.ui import element_ids as ids
from sd_prompt_templates.ui.handlers.library import VARIABLE_COLUMNS, blank_variable_rows, safe_names
from sd_prompt_templates.ui.handlers.messages import safe_call
from sd_prompt_templates.ui.handlers.wildcards import completion_names, safe_wildcards
from sd_prompt_templates.ui.ports import ServiceFactory, TabPorts

NO_TEMPLATE = ""


@dataclass(frozen=True)
class LibrarySection:
    """The sidebar's template list, with its search and buttons."""

    search: gr.Textbox
    reload: gr.Button
    templates: gr.Radio
    new: gr.Button
    duplicate: gr.Button
    confirm: gr.Checkbox
    delete: gr.Button


@dataclass(frozen=True)
class ImportExportSection:
    export: gr.Button
    exported: gr.File
    upload: gr.File
    replace: gr.Checkbox
    load: gr.Button


@dataclass(frozen=True)
class WildcardsSection:
    wildcard: gr.Dropdown
    entries: gr.Textbox


@dataclass(frozen=True)
class EditorSection:
    """The template being edited, and the status line above it."""

    status: gr.HTML
    name: gr.Textbox
    title: gr.Textbox
    tags: gr.Textbox
    prompt: gr.Textbox
    negative: gr.Textbox
    description: gr.Textbox
    variables: gr.Dataframe
    parameters: gr.Textbox
    save: gr.Button


@dataclass(frozen=True)
class RunOptionsSection:
    """What a preview or a generation takes beside the template."""

    values: gr.Textbox
    mode: gr.Radio
    count: gr.Number
    seed: gr.Number


@dataclass(frozen=True)
class PreviewSection:
    button: gr.Button
    info: gr.HTML
    rows: gr.Dataframe
    stamp: gr.Textbox  # the page numbers its previews here, on gradio 3 (ui/newest.py)


@dataclass(frozen=True)
class GenerationSection:
    sampler: gr.Dropdown
    steps: gr.Number
    cfg: gr.Number
    width: gr.Number
    height: gr.Number
    generate: gr.Button
    queue: gr.Button  # the same run as a job, for later
    interrupt: gr.Button
    gallery: gr.Gallery
    infotext: gr.Textbox
    info: gr.HTML
    names: gr.HTML  # hidden: the names the editor's autocomplete offers


@dataclass(frozen=True)
class JobsSection:
    """Runs queued for later: their list, the job picked, and what to do with it."""

    table: gr.HTML
    picked: gr.Radio
    refresh: gr.Button
    open: gr.Button  # its images into the generation's gallery
    cancel: gr.Button
    rerun: gr.Button
    info: gr.HTML


@dataclass(frozen=True)
class TabState:
    """What the page keeps between events, unseen."""

    original: gr.State  # the name the editor's template had when loaded; "" for a new one
    version: gr.State
    infotexts: gr.State  # of the gallery's images
    previewed: gr.State  # the seed the last preview drew: Generate makes what it showed
    task_id: gr.Textbox  # the page's script fills it: a State would not reach the script


@dataclass(frozen=True)
class Tab:
    blocks: gr.Blocks
    library: LibrarySection
    import_export: ImportExportSection
    wildcards: WildcardsSection
    editor: EditorSection
    options: RunOptionsSection
    preview: PreviewSection
    generation: GenerationSection
    jobs: JobsSection
    state: TabState


def library_section(service: ServiceFactory) -> LibrarySection:
    with gr.Row():
        search = gr.Textbox(label="Search templates", elem_id=ids.tab("search"))
        reload = gr.Button("\U0001f504", elem_id=ids.tab("reload"), elem_classes=[ids.TOOL_CLASS])
    templates = gr.Radio(safe_names(service), label="Templates", elem_id=ids.tab("list"))
    with gr.Row():
        new = gr.Button("New", elem_id=ids.tab("new"))
        duplicate = gr.Button("Duplicate", elem_id=ids.tab("duplicate"))
    with gr.Row():
        confirm = gr.Checkbox(False, label="Yes, delete", elem_id=ids.tab("confirm-delete"))
        delete = gr.Button("Delete", variant="stop", elem_id=ids.tab("delete"))
    return LibrarySection(search, reload, templates, new, duplicate, confirm, delete)


def import_export_section() -> ImportExportSection:
    with gr.Accordion("Import / export", open=False):
        export = gr.Button("Export the library", elem_id=ids.tab("export"))
        exported = gr.File(label="Export", interactive=False, elem_id=ids.tab("exported"))
        upload = gr.File(label="Import a file", type="binary", file_types=[".json"], elem_id=ids.tab("import-file"))
        replace = gr.Checkbox(False, label="Replace templates of the same name", elem_id=ids.tab("replace"))
        load = gr.Button("Import", elem_id=ids.tab("import"))
    return ImportExportSection(export, exported, upload, replace, load)


def wildcards_section(service: ServiceFactory) -> WildcardsSection:
    with gr.Accordion("Wildcards", open=False):
        wildcard = gr.Dropdown(safe_wildcards(service), label="Wildcard", elem_id=ids.tab("wildcard"))
        entries = gr.Textbox(label="Entries", lines=8, interactive=False, elem_id=ids.tab("entries"))
    return WildcardsSection(wildcard, entries)


def editor_section() -> EditorSection:
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
        label="Negative prompt template", lines=2, elem_id=ids.tab("negative"), elem_classes=[ids.EDITOR_CLASS]
    )
    with gr.Accordion("Description, variables and default parameters", open=False):
        description = gr.Textbox(label="Description", lines=2, elem_id=ids.tab("description"))
        variables = variables_table()
        parameters = gr.Textbox(
            "{}", label="Default generation parameters (JSON)", lines=3, elem_id=ids.tab("parameters")
        )
    save = gr.Button("Save", variant="primary", elem_id=ids.tab("save"))
    return EditorSection(status, name, title, tags, prompt, negative, description, variables, parameters, save)


def variables_table() -> gr.Dataframe:
    return gr.Dataframe(
        value=blank_variable_rows(),
        headers=VARIABLE_COLUMNS,
        datatype="str",
        col_count=(5, "fixed"),
        row_count=(1, "dynamic"),
        interactive=True,
        label="Variables (type: text, choice or number; choices separated by |)",
        elem_id=ids.tab("variables"),
    )


def run_options_section() -> RunOptionsSection:
    with gr.Row():
        values = gr.Textbox(
            label="Variable values: name = value, one a line",
            lines=2,
            elem_id=ids.tab("values"),
            elem_classes=[ids.EDITOR_CLASS],
        )
        with gr.Column():
            mode = gr.Radio(["random", "combinatorial"], value="random", label="Mode", elem_id=ids.tab("mode"))
            with gr.Row():
                count = gr.Number(4, precision=0, label="Images (0: every combination)", elem_id=ids.tab("count"))
                seed = gr.Number(-1, precision=0, label="Seed (-1: random)", elem_id=ids.tab("seed"))
    return RunOptionsSection(values, mode, count, seed)


def preview_section() -> PreviewSection:
    button = gr.Button("Preview (Ctrl+Enter)", elem_id=ids.tab("preview-button"))
    info = gr.HTML(elem_id=ids.tab("preview-info"))
    rows = gr.Dataframe(headers=["seed", "prompt", "negative prompt"], interactive=False, elem_id=ids.tab("preview"))
    stamp = gr.Textbox("", visible=False, elem_id=ids.tab("preview-stamp"))
    return PreviewSection(button, info, rows, stamp)


def generation_section(ports: TabPorts) -> GenerationSection:
    with gr.Accordion("Generate", open=True):
        with gr.Row():
            sampler = sampler_dropdown(ports)
            steps = gr.Number(20, precision=0, label="Steps", elem_id=ids.tab("steps"))
            cfg = gr.Number(7.0, label="CFG scale", elem_id=ids.tab("cfg"))
            width = gr.Number(512, precision=0, label="Width", elem_id=ids.tab("width"))
            height = gr.Number(512, precision=0, label="Height", elem_id=ids.tab("height"))
        with gr.Row():
            generate = gr.Button("Generate", variant="primary", elem_id=ids.tab("generate"))
            queue = gr.Button("Queue", elem_id=ids.tab("queue"))
            interrupt = gr.Button("Interrupt", elem_id=ids.tab("interrupt"))
        with gr.Column(elem_id=ids.tab("gallery-container")):
            gallery = gr.Gallery(label="Images", columns=4, elem_id=ids.tab("gallery"))
        infotext = gr.Textbox(
            label="Selected image's parameters", lines=3, interactive=False, elem_id=ids.tab("infotext")
        )
        info = gr.HTML(elem_id=ids.tab("generation-info"))
        names = gr.HTML(completion_names(ports.service), elem_id=ids.tab("names"))
        if ports.send_buttons is not None:
            ports.send_buttons(infotext, gallery)
    return GenerationSection(
        sampler, steps, cfg, width, height, generate, queue, interrupt, gallery, infotext, info, names
    )


def jobs_section() -> JobsSection:
    """Filled when the page loads (ui/events.py): the jobs' files are opened at first use, not at build."""
    with gr.Accordion("Jobs", open=True, elem_id=ids.tab("jobs")):
        table = gr.HTML(elem_id=ids.tab("jobs-table"))
        picked = gr.Radio([], label="Job", elem_id=ids.tab("job"))
        with gr.Row():
            refresh = gr.Button("Refresh", elem_id=ids.tab("jobs-refresh"))
            open_ = gr.Button("Open", elem_id=ids.tab("job-open"))
            cancel = gr.Button("Cancel", variant="stop", elem_id=ids.tab("job-cancel"))
            rerun = gr.Button("Re-run", elem_id=ids.tab("job-rerun"))
        info = gr.HTML(elem_id=ids.tab("jobs-info"))
    return JobsSection(table, picked, refresh, open_, cancel, rerun, info)


def sampler_dropdown(ports: TabPorts) -> gr.Dropdown:
    """The host's samplers, with its default one picked when it is among them."""
    samplers = safe_call(ports.samplers, ["Euler a"])
    default = safe_call(ports.default_sampler, None)
    return gr.Dropdown(
        samplers,
        value=default if default in samplers else None,
        label="Sampler",
        elem_id=ids.tab("sampler"),
    )


def tab_state() -> TabState:
    return TabState(
        original=gr.State(NO_TEMPLATE),
        version=gr.State(None),
        infotexts=gr.State([]),
        previewed=gr.State(None),
        task_id=gr.Textbox("", visible=False, elem_id=ids.tab("task-id")),
    )
