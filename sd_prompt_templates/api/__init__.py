"""The REST API: one APIRouter under /prompt-templates/v1 (api/router.py) and its dependencies (api/deps.py)."""
