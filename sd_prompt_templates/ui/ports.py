"""What the tab needs from its host: the WebUI (webui/tab_ports.py) or a plain gradio app (tests/browser/app.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sd_prompt_templates.plan import GenerationPlan
from sd_prompt_templates.service import PromptService

ServiceFactory = Callable[[], PromptService]
Generate = Callable[[GenerationPlan, str], tuple[list[Any], list[str]]]  # (plan, task id) -> images, infotexts


@dataclass
class TabPorts:
    service: ServiceFactory
    generate: Generate  # runs a plan as a progress task: the WebUI's generation port
    wrap_generation: Callable[[Callable[..., Any]], Callable[..., Any]] = lambda fn: fn
    interrupt: Callable[[], None] = lambda: None
    samplers: Callable[[], list[str]] = lambda: ["Euler a"]
    default_sampler: Callable[[], str | None] = lambda: None  # the one preselected; None: none
    js_submit: str | None = None  # a JS function that starts the progress bar and returns the task id first
    send_buttons: Callable[[Any, Any], None] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
