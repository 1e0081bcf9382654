"""What the tab does, as plain functions over the service, without gradio: the tab (ui/events.py) only wires them to
components. Each action takes one request object (a frozen dataclass the event's inputs make), and every failure
comes back as a message to show, never as an exception in the browser.

- `library.py`     the template library: the editor's fields, save, delete, duplicate, export, import
- `generation.py`  preview and generate, from the editor's prompt and the run's options
- `jobs.py`        Queue (a run stored as a job for later) and the Jobs section: list, open, cancel, re-run
- `wildcards.py`   the wildcard browser and the names the editor's autocomplete offers
- `messages.py`    messages and problems as the tab shows them
"""
