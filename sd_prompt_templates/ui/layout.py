"""The "Prompt Templates" tab: a template library browser, editor, live preview and generator.

The sidebar (library, import/export, wildcards) beside the main column (editor, run options, preview, generation, jobs);
each section is made in ui/sections.py, and wired in ui/events.py.
"""

from __future__ import annotations

import gradio as gr

from sd_prompt_templates.ui import element_ids as ids
from sd_prompt_templates.ui import events
from sd_prompt_templates.ui import sections as s
from sd_prompt_templates.ui.ports import TabPorts


def build(ports: TabPorts) -> gr.Blocks:
    with gr.Blocks(analytics_enabled=False) as blocks:
        with gr.Row(elem_id=ids.tab("root")):
            with gr.Column(scale=1, elem_id=ids.tab("sidebar")):
                library = s.library_section(ports.service)
                import_export = s.import_export_section()
                wildcards = s.wildcards_section(ports.service)
            with gr.Column(scale=3, elem_id=ids.tab("main")):
                editor = s.editor_section()
                options = s.run_options_section()
                preview = s.preview_section()
                generation = s.generation_section(ports)
                jobs = s.jobs_section()
        state = s.tab_state()
        tab = s.Tab(blocks, library, import_export, wildcards, editor, options, preview, generation, jobs, state)
        events.wire(tab, ports)
    return blocks
