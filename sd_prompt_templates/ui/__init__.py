"""The "Prompt Templates" tab, built from gradio alone: it never imports the WebUI (`modules`).

The WebUI's parts come in as `ports.TabPorts` (webui/tab_ports.py makes them), so the same tab runs inside the WebUI
and in a plain gradio app for browser tests (tests/browser/app.py).

- `layout.py`    `build(ports)`: the tab's sections, each a small function returning a dataclass of its components
- `events.py`    what each event does, and which components show its answer; where the gradio versions differ
- `inputs.py`    each event's request object and the components that make it, declared in one place
- `forms.py`     `Form`: an event's input components read into one request object, in its fields' order
- `handlers/`    the actions as plain functions over the service, without gradio: each takes one request object
- `ports.py`     `TabPorts`, what the host provides: the service, generation, samplers, buttons
- `element_ids.py`  every element id and CSS class, which style.css and javascript/ use
"""
