"""What the extension can be configured with. The WebUI's Settings page fills this in (webui/settings.py); the core
only ever sees this plain object, read afresh for each use."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from sd_prompt_templates.engine import DEFAULT_LIMITS, Limits
from sd_prompt_templates.jobs.settings import JobLimits
from sd_prompt_templates.jobs.webhooks import WebhookSettings

DATABASE_ENV = "SD_PROMPT_TEMPLATES_DATABASE_URL"


def database_url(configured: str = "") -> str:
    """The shared database's URL: $SD_PROMPT_TEMPLATES_DATABASE_URL, else the one configured; "" for none."""
    return (os.environ.get(DATABASE_ENV) or configured).strip()


@dataclass(frozen=True)
class GenerationLimits:
    """Caps on one generation request, checked before any work starts."""

    max_width: int = 2048
    max_height: int = 2048
    max_steps: int = 150
    max_images: int = 100
    # width x height x steps summed over the images (hires pass included): 100 images of 512x512 at 30 steps
    max_pixel_steps: int = 100 * 512 * 512 * 30
    # A request that sets neither batch_size nor n_iter is batched up to this many pixels (batch size x width x
    # height; 0: one image at a time): 8 images of 256x256, 2 of 512x512, 1 of 1024x1024.
    auto_batch_pixels: int = 8 * 256 * 256
    # ... and only when each image is at most this many pixels (0: any size). On a CPU, batches of 512x512 images
    # were measured slower than single images; the WebUI's settings set 384x384 there.
    auto_batch_image_pixels: int = 0


@dataclass(frozen=True)
class Settings:
    library_path: Path
    wildcard_dirs: tuple[Path, ...] = ()
    limits: Limits = DEFAULT_LIMITS
    generation: GenerationLimits = field(default_factory=GenerationLimits)
    jobs: JobLimits = field(default_factory=JobLimits)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    worker_name: str = ""  # this WebUI's name in the jobs it runs; "" means its host name
    # A database several WebUIs share (postgresql://…): the template library, the jobs and their queue live there.
    # "": everything in local SQLite files (library_path, and the jobs beside it).
    database_url: str = ""

    @property
    def library_target(self) -> str | Path:
        """Where the template library is: the shared database, else its local file."""
        return self.database_url or self.library_path
