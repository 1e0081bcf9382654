"""The one PromptService the Script and the start-up code share, made on first use (never at import)."""

from __future__ import annotations

import threading

from sd_prompt_templates.service import PromptService
from sd_prompt_templates.webui import settings

_service: PromptService | None = None
_lock = threading.Lock()


def service() -> PromptService:
    global _service
    with _lock:
        if _service is None:
            _service = PromptService(settings.current)
        return _service
