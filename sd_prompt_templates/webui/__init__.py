"""The only part of the extension that imports the WebUI (`modules`); the tab it hosts is gradio-only, in `ui/`."""
