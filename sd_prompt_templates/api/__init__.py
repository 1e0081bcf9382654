"""The REST API under /prompt-templates/v1: routes per resource (api/routes/), composed in api/main.py, with their
dependencies (api/deps.py) and the checks before any body is read (api/guard.py)."""
