"""The extension's section of the WebUI's Settings page; read at use time: a change applies at the next use."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import gradio as gr
from modules import shared

from sd_prompt_templates.engine import DEFAULT_LIMITS, MAX_DEPTH, Limits
from sd_prompt_templates.jobs.settings import GB, JobLimits
from sd_prompt_templates.jobs.webhooks import WebhookSettings, parse_allowed_hosts
from sd_prompt_templates.library import default_library_path
from sd_prompt_templates.settings import DATABASE_ENV, GenerationLimits, Settings, database_url
from sd_prompt_templates.webui import compat

SECTION = ("prompt_templates", "Prompt Templates")
KEY = "prompt_templates_"
EXTENSION_ROOT = Path(__file__).resolve().parents[2]
_LIMITS = GenerationLimits()
# (key, default or a function that gives it at use time, label, minimum, maximum)
NUMBERS = (
    ("max_prompts", DEFAULT_LIMITS.max_prompts, "Most prompts (images) one request may ask for", 1, 100_000),
    ("max_template_length", DEFAULT_LIMITS.max_template_length, "Longest template, in characters", 100, 1_000_000),
    ("max_depth", DEFAULT_LIMITS.max_depth, "Deepest nesting of {variants} and wildcards", 2, MAX_DEPTH),
    ("max_width", _LIMITS.max_width, "API: widest image", 64, 16_384),
    ("max_height", _LIMITS.max_height, "API: tallest image", 64, 16_384),
    ("max_steps", _LIMITS.max_steps, "API: most sampling steps", 1, 1_000),
    ("max_images", _LIMITS.max_images, "API: most images in one request", 1, 10_000),
    ("max_pixel_steps", _LIMITS.max_pixel_steps, "API: most width x height x steps x images in one request", 1, 10**13),
    (
        "auto_batch_pixels",
        _LIMITS.auto_batch_pixels,
        "API and tab, when a request sets no batch size: batch images together up to this many pixels "
        "(batch size x width x height; 0: one image at a time)",
        0,
        10**10,
    ),
    (
        "auto_batch_image_pixels",
        lambda: CPU_IMAGE_PIXELS if compat.on_cpu() else 0,
        "... but only images of at most this many pixels each (0: any size; on a CPU the default is 147456 = "
        "384 x 384, as batches of larger images run slower there)",
        0,
        10**10,
    ),
)
CPU_IMAGE_PIXELS = 384 * 384
_JOBS = JobLimits()
JOB_NUMBERS = (
    ("jobs_max_queued", _JOBS.max_queued_jobs, "Jobs: most jobs waiting at once", 1, 1_000_000),
    ("jobs_max_images", _JOBS.max_images_per_job, "Jobs: most images in one job", 1, 100_000),
    (
        "jobs_max_attempts",
        _JOBS.max_attempts,
        "Jobs: starts in a row without a new image (failed, or the WebUI stopped) before a job fails",
        1,
        100,
    ),
    (
        "jobs_takeover_seconds",
        int(_JOBS.takeover_seconds),
        "Jobs, shared database: another WebUI takes over a running job whose WebUI has been silent this many seconds",
        15,
        86_400,
    ),
    (
        "jobs_retention_days",
        int(_JOBS.retention_days),
        "Jobs: keep finished jobs and their images this many days",
        1,
        36_500,
    ),
    (
        "jobs_retention_gb",
        _JOBS.retention_bytes // GB,
        "Jobs: keep at most this many GB of finished jobs' images",
        1,
        100_000,
    ),
)
TEXTS = (
    (
        "database_url",
        "Shared database for several WebUIs: postgresql://user:password@host/database holds the template library, "
        "the jobs and their queue (empty: local files; the SD_PROMPT_TEMPLATES_DATABASE_URL environment variable "
        "wins; applies after a restart)",
    ),
    ("worker_name", "Jobs: this WebUI's name in the jobs it runs (empty: host:port)"),
    (
        "webhook_secret",
        "Webhooks: signing secret for webhooks that give none (whsec_ + base64, Standard Webhooks; empty: such "
        "webhooks are refused)",
    ),
    (
        "webhook_allowed_hosts",
        "Webhooks: hosts they may call, comma-separated (empty: any public host; list 127.0.0.1, localhost, "
        "*.example.com or 10.0.0.0/8 to allow those; add * to allow public hosts besides)",
    ),
)


# every option of ours, by its key in the WebUI's options
OPTION_KEYS = tuple(
    KEY + name
    for name in ("wildcard_dirs", "library_path", *(name for name, _ in TEXTS), *(n for n, *_ in NUMBERS + JOB_NUMBERS))
)


def _default(value: object) -> object:
    return value() if callable(value) else value


def on_ui_settings() -> None:
    add = shared.opts.add_option
    add(
        KEY + "wildcard_dirs",
        shared.OptionInfo(
            "",
            "Wildcard folders, one a line (besides this extension's wildcards/ and those of sd-dynamic-prompts "
            "and tagcomplete, when installed)",
            gr.Textbox,
            {"lines": 3},
            section=SECTION,
        ),
    )
    add(
        KEY + "library_path",
        shared.OptionInfo(
            "",
            "Template library file (empty: prompt-templates/templates.sqlite3 in the WebUI's data folder)",
            section=SECTION,
        ),
    )
    for name, label in TEXTS:
        add(KEY + name, shared.OptionInfo("", label, section=SECTION))
    for name, default, label, low, high in NUMBERS + JOB_NUMBERS:
        add(
            KEY + name,
            shared.OptionInfo(
                _default(default), label, gr.Number, {"minimum": low, "maximum": high, "precision": 0}, section=SECTION
            ),
        )


def _option(name: str, default: object) -> object:
    value = getattr(shared.opts, KEY + name, None)
    return default if value in (None, "") else value


def wildcard_dirs() -> tuple[Path, ...]:
    """The user's folders first (a name there wins), then sd-dynamic-prompts' and tagcomplete's, then our own."""
    extensions = compat.extensions_dir()
    configured = str(_option("wildcard_dirs", ""))
    candidates = [Path(line.strip()).expanduser() for line in configured.splitlines() if line.strip()]
    candidates += [
        extensions / "sd-dynamic-prompts" / "wildcards",
        extensions / "a1111-sd-webui-tagcomplete" / "wildcards",
        EXTENSION_ROOT / "wildcards",
    ]
    seen: list[Path] = []
    for path in candidates:
        if path.is_dir() and path not in seen:
            seen.append(path)
    return tuple(seen)


FOLDERS_SECONDS = 1.0  # how long which wildcard folders exist is taken as known
_last_lock = threading.Lock()
_last: tuple[Any, float, Settings] | None = None


def current() -> Settings:
    """The settings in force now. A change of any of ours (Settings, or the environment's database URL) applies at
    once; which of the wildcard folders exist is looked at again within `FOLDERS_SECONDS`. (Reading them whole
    stats every candidate folder and asks the host's name, and a job's submit needs them three times: measured, a
    fifth of its time.)"""
    global _last
    key, now = _inputs(), time.monotonic()
    with _last_lock:
        last = _last
    if last is not None and last[0] == key and now - last[1] < FOLDERS_SECONDS:
        return last[2]
    settings = _read()
    with _last_lock:
        _last = (key, now, settings)
    return settings


def _inputs() -> tuple[Any, ...]:
    """What the settings are made of, but the folders: our options' values, what their defaults follow (the
    device), and where the WebUI keeps its data."""
    data = getattr(shared.opts, "data", None)
    values = data if isinstance(data, dict) else vars(shared.opts)
    ours = tuple(values.get(key) for key in OPTION_KEYS)  # not a walk through the WebUI's hundreds of options
    port = getattr(shared.cmd_opts, "port", None)
    return ours, os.environ.get(DATABASE_ENV), str(shared.data_path), compat.extensions_dir(), port, compat.on_cpu()


def _read() -> Settings:
    path = str(_option("library_path", "")).strip()
    numbers = {name: int(_option(name, _default(default))) for name, default, *_ in NUMBERS + JOB_NUMBERS}  # type: ignore[call-overload]
    return Settings(
        library_path=Path(path).expanduser() if path else default_library_path(shared.data_path),
        wildcard_dirs=wildcard_dirs(),
        limits=Limits(
            max_template_length=numbers["max_template_length"],
            max_depth=min(numbers["max_depth"], MAX_DEPTH),  # a value saved when Settings allowed more
            max_prompts=numbers["max_prompts"],
        ),
        generation=GenerationLimits(
            max_width=numbers["max_width"],
            max_height=numbers["max_height"],
            max_steps=numbers["max_steps"],
            max_images=numbers["max_images"],
            max_pixel_steps=numbers["max_pixel_steps"],
            auto_batch_pixels=numbers["auto_batch_pixels"],
            auto_batch_image_pixels=numbers["auto_batch_image_pixels"],
        ),
        jobs=JobLimits(
            max_queued_jobs=numbers["jobs_max_queued"],
            max_images_per_job=numbers["jobs_max_images"],
            max_attempts=numbers["jobs_max_attempts"],
            retention_days=float(numbers["jobs_retention_days"]),
            retention_bytes=numbers["jobs_retention_gb"] * GB,
            takeover_seconds=float(numbers["jobs_takeover_seconds"]),
        ),
        webhooks=webhook_settings(),
        worker_name=str(_option("worker_name", "")).strip() or compat.worker_name(),
        database_url=database_url(str(_option("database_url", ""))),
    )


def webhook_settings() -> WebhookSettings:
    secret = str(_option("webhook_secret", "")).strip()
    return WebhookSettings(
        secret=secret or None, allowed_hosts=parse_allowed_hosts(str(_option("webhook_allowed_hosts", "")))
    )
