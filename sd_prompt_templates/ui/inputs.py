"""Each event's request object and the components that make it, declared in this one place: a form pairs each of a
request's fields with its component, and the request's field order is the order gradio passes their values in. A
new input is a field in its request (ui/handlers/) and its component here."""

from __future__ import annotations

from dataclasses import dataclass

from sd_prompt_templates.ui.forms import Form, form
from sd_prompt_templates.ui.handlers.generation import GenerateInputs, PreviewInputs, RunInputs
from sd_prompt_templates.ui.handlers.library import DeleteInputs, EditorInputs, ImportInputs, SaveInputs
from sd_prompt_templates.ui.sections import Tab


@dataclass(frozen=True)
class TabForms:
    editor: Form[EditorInputs]
    save: Form[SaveInputs]
    delete: Form[DeleteInputs]
    import_: Form[ImportInputs]
    preview: Form[PreviewInputs]
    generate: Form[GenerateInputs]
    queue: Form[RunInputs]


def tab_forms(tab: Tab) -> TabForms:
    lib, state = tab.library, tab.state
    editor, preview = editor_form(tab), preview_form(tab)
    run = run_form(tab, preview)
    loaded = {"original": state.original, "version": state.version}
    return TabForms(
        editor=editor,
        save=form(SaveInputs, **loaded, query=lib.search, editor=editor),
        delete=form(DeleteInputs, **loaded, confirmed=lib.confirm, query=lib.search),
        import_=form(ImportInputs, data=tab.import_export.upload, replace=tab.import_export.replace, query=lib.search),
        preview=preview,
        generate=form(GenerateInputs, task_id=tab.state.task_id, run=run),
        queue=run,
    )


def editor_form(tab: Tab) -> Form[EditorInputs]:
    ed = tab.editor
    return form(
        EditorInputs,
        name=ed.name,
        title=ed.title,
        description=ed.description,
        prompt=ed.prompt,
        negative_prompt=ed.negative,
        variables=ed.variables,
        parameters=ed.parameters,
        tags=ed.tags,
    )


def preview_form(tab: Tab) -> Form[PreviewInputs]:
    ed, options = tab.editor, tab.options
    return form(
        PreviewInputs,
        prompt=ed.prompt,
        negative=ed.negative,
        values=options.values,
        mode=options.mode,
        count=options.count,
        seed=options.seed,
        variables=ed.variables,
    )


def run_form(tab: Tab, preview: Form[PreviewInputs]) -> Form[RunInputs]:
    """What Queue takes, and Generate after its task id."""
    gen, state = tab.generation, tab.state
    return form(
        RunInputs,
        preview=preview,
        sampler=gen.sampler,
        steps=gen.steps,
        cfg=gen.cfg,
        width=gen.width,
        height=gen.height,
        template=state.original,
        memo=state.previewed,
    )
