"""Browser tests: the Prompt Templates tab in a plain gradio app, driven by Playwright and Debian's Chromium."""
