"""What the tab's events do: the handler each one calls (ui/handlers/), with its inputs read into one request object
(ui/inputs.py), and which components show its answer. Handlers are server-side: the tab calls no REST route, so it
works without --api and under --api-auth."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import gradio as gr

from sd_prompt_templates.ui.handlers.generation import GenerateInputs, PreviewInputs, RunInputs, generate, preview
from sd_prompt_templates.ui.handlers.jobs import cancel_job, jobs_view, open_job, queue_run, rerun_job
from sd_prompt_templates.ui.handlers.library import (
    DeleteInputs,
    EditorInputs,
    ImportInputs,
    SaveInputs,
    blank_variable_rows,
    delete,
    duplicate_name,
    editor_from_record,
    export_file,
    import_file,
    safe_names,
    save,
)
from sd_prompt_templates.ui.handlers.messages import message
from sd_prompt_templates.ui.handlers.wildcards import completion_names, safe_wildcards, wildcard_entries
from sd_prompt_templates.ui.inputs import TabForms, tab_forms
from sd_prompt_templates.ui.newest import STAMP_JS, NewestOnly
from sd_prompt_templates.ui.ports import TabPorts
from sd_prompt_templates.ui.sections import NO_TEMPLATE, Tab

GRADIO_4 = int(gr.__version__.split(".")[0]) >= 4
HAS_TIMER = hasattr(gr, "Timer")  # gradio 4.40 and later
REFRESH_SECONDS = 2.0  # how often the jobs' list is shown again while a job is queued or running
Refresh = Callable[[], tuple[list[Any], bool]]  # a listing's values, and whether to show it again soon


class Poll:
    """Shows a listing again every few seconds while something is going on, and costs nothing once nothing is:
    the one place where the gradio versions differ in this. Gradio 4 has `gr.Timer`, active only then, each tick
    a short event. Gradio 3.41 has no timer, and its `every=` never stops and keeps the inputs it started with: there
    a hidden number's change starts a generator that shows the listing every few seconds and ends when nothing is
    going on; the page starts no second one while it runs. Made inside the tab's Blocks; its trigger is an output
    of every event that shows the listing, set by `started`."""

    def __init__(self, interval: float = REFRESH_SECONDS) -> None:
        self.interval = interval
        self.trigger: Any = gr.Timer(interval, active=False) if HAS_TIMER else gr.Number(0, visible=False)

    def started(self, active: bool) -> Any:
        """The trigger's value from an event that showed the listing: polling goes on while `active`."""
        if HAS_TIMER:
            return gr.update(active=active)
        return time.time() if active else gr.update()  # a new value starts the page's generator

    def wire(self, refresh: Refresh, outputs: list[Any]) -> None:
        if HAS_TIMER:
            self.trigger.tick(self._ticking(refresh), [], [*outputs, self.trigger], show_progress="hidden")
        else:
            self.trigger.change(self._watching(refresh), [], outputs, show_progress="hidden")

    def _ticking(self, refresh: Refresh) -> Callable[[], list[Any]]:
        def refresh_jobs() -> list[Any]:
            shown, active = refresh()
            return [*shown, gr.update(active=active)]

        return refresh_jobs

    def _watching(self, refresh: Refresh) -> Callable[[], Iterator[list[Any]]]:
        def watch_jobs() -> Iterator[list[Any]]:
            active = True
            while active:
                time.sleep(self.interval)
                shown, active = refresh()
                yield shown

        return watch_jobs


class TabEvents:
    """The events' functions: a request (or a component's value) in, the values the outputs show out."""

    def __init__(self, ports: TabPorts, forms: TabForms, poll: Poll) -> None:
        self.ports, self.forms, self.poll = ports, forms, poll

    def refresh(self, query: str = "") -> Any:
        return gr.update(choices=safe_names(self.ports.service, query))

    def select(self, chosen: str, editing: str = NO_TEMPLATE, editing_version: int | None = None) -> list[Any]:
        """The picked template into the editor. Gradio 4.40's radio also fires `input` when Save sets the list to
        the template it saved and a radio already on the page takes that name (a rename, a name sorted among the
        others): the editor already holds that version, and the "Saved ..." message must stay."""
        unchanged = [gr.update()] * (len(self.forms.editor.components) + 2)
        if not chosen:
            return [*unchanged, gr.update()]
        try:
            record = self.ports.service().store().get(chosen)
        except Exception as exc:  # deleted meanwhile, or the library is unreadable
            return [*unchanged, message(str(exc), "error")]
        if (record.name, record.version) == (editing, editing_version):
            return [*unchanged, gr.update()]
        return [
            *self.forms.editor.values(editor_from_record(record)),
            record.name,
            record.version,
            message(f"Editing '{record.name}', version {record.version}."),
        ]

    def new_template(self) -> list[Any]:
        return [
            *self.forms.editor.values(EditorInputs(variables=blank_variable_rows())),
            NO_TEMPLATE,
            None,
            message("A new template: write it, then Save."),
            gr.update(value=None),
        ]

    def duplicate_template(self, current: str) -> list[Any]:
        return [
            duplicate_name(self.ports.service(), current or "template"),
            NO_TEMPLATE,
            None,
            message("A copy: give it a name, then Save."),
            gr.update(value=None),
        ]

    def save_template(self, inputs: SaveInputs) -> list[Any]:
        saved_name, saved_version, text = save(self.ports.service(), inputs)
        listed: dict[str, Any] = {"choices": safe_names(self.ports.service, inputs.query)}
        if (saved_name, saved_version) != (inputs.original, inputs.version):  # saved: show it as the one picked
            listed["value"] = saved_name
        return [saved_name, saved_version, text, gr.update(**listed)]

    def delete_template(self, inputs: DeleteInputs) -> list[Any]:
        text = delete(self.ports.service(), inputs)
        gone = "Deleted" in text
        return [
            text,
            gr.update(choices=safe_names(self.ports.service, inputs.query), value=None if gone else inputs.original),
            NO_TEMPLATE if gone else inputs.original,
            None if gone else inputs.version,
            False,
        ]

    def import_templates(self, inputs: ImportInputs) -> list[Any]:
        return [import_file(self.ports.service(), inputs), self.refresh(inputs.query)]

    def reload_lists(self, query: str) -> list[Any]:
        service = self.ports.service
        return [self.refresh(query), gr.update(choices=safe_wildcards(service)), completion_names(service)]

    def run_preview(self, inputs: PreviewInputs) -> list[Any]:
        text, rows, memo = preview(self.ports.service(), inputs)
        return [text, rows or None, memo]

    def run_generation(self, inputs: GenerateInputs) -> list[Any]:
        images, texts, info = generate(self.ports.service(), self.ports.generate, inputs)
        return [images, texts, texts[0] if texts else "", info]

    def queue_job(self, inputs: RunInputs) -> list[Any]:
        return [queue_run(self.ports.service(), inputs), *self.show_jobs()]

    def cancel_picked(self, picked: str | None) -> list[Any]:
        return [cancel_job(self.ports.service(), picked), *self.show_jobs()]

    def rerun_picked(self, picked: str | None) -> list[Any]:
        return [rerun_job(self.ports.service(), picked), *self.show_jobs()]

    def open_picked(self, picked: str | None) -> list[Any]:
        """The job's images in the generation's gallery, with their infotexts for the "Send to" buttons."""
        opened = open_job(self.ports.service(), picked)
        if opened.images is None:  # nothing to show: the gallery keeps what it shows
            return [gr.update(), gr.update(), gr.update(), opened.message]
        texts = opened.infotexts
        return [opened.images, texts, texts[0] if texts else "", opened.message]

    def jobs_listing(self) -> tuple[list[Any], bool]:
        view = jobs_view(self.ports.service())
        return [view.table, gr.update(choices=view.choices)], view.active

    def show_jobs(self) -> list[Any]:
        shown, active = self.jobs_listing()
        return [*shown, self.poll.started(active)]


def pick(texts: list[str], evt: gr.SelectData) -> str:
    """The picked image's infotext."""
    return texts[evt.index] if 0 <= evt.index < len(texts) else ""


def wire(tab: Tab, ports: TabPorts) -> None:
    forms = tab_forms(tab)
    events = TabEvents(ports, forms, Poll())
    wire_library(tab, forms, events)
    wire_import_export(tab, forms, events, ports)
    wire_lists(tab, events, ports)
    wire_preview(tab, forms, events)
    wire_generation(tab, forms, events, ports)
    wire_jobs(tab, forms, events)


def wire_library(tab: Tab, forms: TabForms, events: TabEvents) -> None:
    lib, ed, state = tab.library, tab.editor, tab.state
    editor = forms.editor.components
    editing = [state.original, state.version]  # the template the editor holds, and its version
    lib.search.change(events.refresh, [lib.search], [lib.templates])
    # .input, not .change: Save or Delete setting the list must not load the editor anew (typing is never
    # overwritten); where gradio fires it anyway, select sees the editor already holds what was picked
    lib.templates.input(events.select, [lib.templates, *editing], [*editor, *editing, ed.status])
    lib.new.click(events.new_template, [], [*editor, *editing, ed.status, lib.templates])
    lib.duplicate.click(events.duplicate_template, [ed.name], [ed.name, *editing, ed.status, lib.templates])
    ed.save.click(forms.save.calling(events.save_template), forms.save.components, [*editing, ed.status, lib.templates])
    lib.delete.click(
        forms.delete.calling(events.delete_template),
        forms.delete.components,
        [ed.status, lib.templates, *editing, lib.confirm],
    )


def wire_import_export(tab: Tab, forms: TabForms, events: TabEvents, ports: TabPorts) -> None:
    transfer = tab.import_export
    transfer.export.click(lambda: export_file(ports.service()), [], [transfer.exported])
    transfer.load.click(
        forms.import_.calling(events.import_templates),
        forms.import_.components,
        [tab.editor.status, tab.library.templates],
    )


def wire_lists(tab: Tab, events: TabEvents, ports: TabPorts) -> None:
    """The wildcard browser, and the lists a reload (or a reloaded page) makes anew from the library and folders."""
    wildcards, lib = tab.wildcards, tab.library
    wildcards.wildcard.change(lambda n: wildcard_entries(ports.service(), n), [wildcards.wildcard], [wildcards.entries])
    lists = [lib.templates, wildcards.wildcard, tab.generation.names]
    lib.reload.click(events.reload_lists, [lib.search], lists)
    tab.blocks.load(events.reload_lists, [lib.search], lists)  # a reloaded page lists today's templates


def wire_preview(tab: Tab, forms: TabForms, events: TabEvents) -> None:
    ed, options = tab.editor, tab.options
    run_preview = forms.preview.calling(events.run_preview)
    inputs, outputs = forms.preview.components, [tab.preview.info, tab.preview.rows, tab.state.previewed]
    edits = [c.change for c in (ed.prompt, ed.negative, options.values, options.mode, options.count, options.seed)]
    if hasattr(gr, "on"):
        # gradio 4 runs each listener on its own, so an early edit's preview could land after a later one's:
        # one listener for all the edits, always finishing on the last, keeps the preview current.
        gr.on(edits, run_preview, inputs, outputs, trigger_mode="always_last")
        tab.preview.button.click(run_preview, inputs, outputs)
        return
    newest_only = NewestOnly().wrap(run_preview, [gr.update()] * len(outputs))
    for trigger in [*edits, tab.preview.button.click]:
        trigger(newest_only, [tab.preview.stamp, *inputs], outputs, **js_option(STAMP_JS))


def wire_generation(tab: Tab, forms: TabForms, events: TabEvents, ports: TabPorts) -> None:
    gen = tab.generation
    gen.generate.click(
        ports.wrap_generation(forms.generate.calling(events.run_generation)),
        forms.generate.components,
        [gen.gallery, tab.state.infotexts, gen.infotext, gen.info],  # an HTML last: the WebUI appends errors, timings
        **js_option(ports.js_submit),
    )
    gen.interrupt.click(lambda: ports.interrupt(), [], [])
    gen.gallery.select(pick, [tab.state.infotexts], [gen.infotext])


def wire_jobs(tab: Tab, forms: TabForms, events: TabEvents) -> None:
    """Queue beside Generate, and the Jobs section: each event that changes the jobs shows their list again."""
    gen, jobs, poll = tab.generation, tab.jobs, events.poll
    listing = [jobs.table, jobs.picked, poll.trigger]
    gen.queue.click(forms.queue.calling(events.queue_job), forms.queue.components, [gen.info, *listing])
    jobs.refresh.click(events.show_jobs, [], listing)
    jobs.cancel.click(events.cancel_picked, [jobs.picked], [jobs.info, *listing])
    jobs.rerun.click(events.rerun_picked, [jobs.picked], [jobs.info, *listing])
    jobs.open.click(events.open_picked, [jobs.picked], [gen.gallery, tab.state.infotexts, gen.infotext, jobs.info])
    tab.blocks.load(events.show_jobs, [], listing, show_progress="hidden")
    poll.wire(events.jobs_listing, [jobs.table, jobs.picked])


def js_option(name: str | None) -> dict[str, Any]:
    """A JS function to run before the event, under the name each gradio version takes."""
    if not name:
        return {}
    return {"js": name} if GRADIO_4 else {"_js": name}
