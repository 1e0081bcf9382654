"""ui/forms.py: an event's input values read into one request object, in the order its dataclass declares; and the
tab's forms, whose order the page's script relies on (it sets Generate's first value to the task id)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from sd_prompt_templates.ui.forms import form


@dataclass(frozen=True)
class Inner:
    a: int
    b: int


@dataclass(frozen=True)
class Outer:
    first: str
    inner: Inner
    last: str = ""


def outer_form():
    inner = form(Inner, b="B", a="A")  # components by name: the dataclass's field order wins
    return form(Outer, last="L", inner=inner, first="F")


def test_components_follow_the_fields_order_with_a_nested_form_in_its_place():
    assert outer_form().components == ["F", "A", "B", "L"]


def test_read_and_values_are_inverse():
    asked = outer_form().read(["x", 1, 2, "y"])
    assert asked == Outer("x", Inner(1, 2), "y")
    assert outer_form().values(asked) == ["x", 1, 2, "y"]


def test_read_refuses_a_wrong_number_of_values():
    with pytest.raises(TypeError, match="takes 4 values, not 3"):
        outer_form().read(["x", 1, 2])


def test_a_form_names_every_field_and_no_other():
    with pytest.raises(TypeError, match=r"no component for \['b'\], no field for \['c'\]"):
        form(Inner, a="A", c="C")


def test_calling_hands_the_request_to_the_function_under_its_name():
    def handle_outer(request: Outer) -> str:
        return f"{request.first}{request.inner.a}{request.last}"

    call = outer_form().calling(handle_outer)
    assert call("x", 1, 2, "y") == "x1y"
    assert call.__name__ == "handle_outer"  # gradio 4 names the endpoint, and the WebUI the job, after it


def built_tab(tmp_path, wildcard_dir):
    """The tab's sections, forms and events, made inside a Blocks as the WebUI makes them, on a library of its own."""
    gr = pytest.importorskip("gradio")
    from sd_prompt_templates.service import PromptService
    from sd_prompt_templates.settings import Settings
    from sd_prompt_templates.ui import sections as s
    from sd_prompt_templates.ui.events import Poll, TabEvents
    from sd_prompt_templates.ui.inputs import tab_forms
    from sd_prompt_templates.ui.ports import TabPorts

    settings = Settings(library_path=tmp_path / "t.sqlite3", wildcard_dirs=(wildcard_dir,))
    service = PromptService(lambda: settings)
    ports = TabPorts(service=lambda: service, generate=lambda plan, task_id: ([], []))
    with gr.Blocks() as blocks:
        sidebar = (s.library_section(ports.service), s.import_export_section(), s.wildcards_section(ports.service))
        main = (s.editor_section(), s.run_options_section(), s.preview_section(), s.generation_section(ports))
        main += (s.jobs_section(),)
        forms = tab_forms(s.Tab(blocks, *sidebar, *main, s.tab_state()))
        events = TabEvents(ports, forms, Poll())
    return service, forms, events


def test_the_tabs_events_read_their_components_in_the_order_they_always_had(tmp_path, wildcard_dir):
    _, forms, _ = built_tab(tmp_path, wildcard_dir)

    def ids(f):
        return [(c.elem_id or type(c).__name__).removeprefix("prompt-templates-tab-") for c in f.components]

    editor = ["name", "title", "description", "prompt", "negative", "variables", "parameters", "tags"]
    preview = ["prompt", "negative", "values", "mode", "count", "seed", "variables"]
    assert ids(forms.editor) == editor
    assert ids(forms.preview) == preview
    assert ids(forms.save) == ["State", "State", "search", *editor]
    assert ids(forms.delete) == ["State", "State", "confirm-delete", "search"]
    assert ids(forms.import_) == ["import-file", "replace", "search"]
    run = [*preview, "sampler", "steps", "cfg", "width", "height", "State", "State"]
    assert ids(forms.generate) == ["task-id", *run]
    assert ids(forms.queue) == run  # Queue takes what Generate does, without the progress task


def test_picking_the_template_the_editor_holds_changes_nothing_and_a_newer_version_loads(tmp_path, wildcard_dir):
    """Gradio 4.40's radio fires `input` when Save sets the list to the saved template: the "Saved" message stays."""
    gr = pytest.importorskip("gradio")
    service, forms, events = built_tab(tmp_path, wildcard_dir)
    store = service.store()
    store.create({"name": "kept", "prompt": "a fox"})
    unchanged = [gr.update()] * (len(forms.editor.components) + 3)

    assert events.select("kept", "kept", 1) == unchanged  # just saved: the editor holds version 1
    picked = events.select("kept", "", None)  # picked after New
    assert picked[len(forms.editor.components) :][:2] == ["kept", 1]
    assert "Editing &#x27;kept&#x27;, version 1." in picked[-1]

    store.update("kept", {"name": "kept", "prompt": "a red fox"}, expected_version=1)  # by another tab or WebUI
    newer = events.select("kept", "kept", 1)
    assert newer[len(forms.editor.components) :] == ["kept", 2, newer[-1]]
    assert "a red fox" in newer and "Editing &#x27;kept&#x27;, version 2." in newer[-1]
