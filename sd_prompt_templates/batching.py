"""How a request's images are split into batches when the caller leaves it to us."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from sd_prompt_templates.checks import image_sizes
from sd_prompt_templates.settings import GenerationLimits


def auto_batch_size(images: int, fields: Mapping[str, Any], limits: GenerationLimits) -> int:
    """The batch size for a request that leaves it to us: the largest that splits `images` into equal batches (so
    no image is made that nobody asked for) within the pixel budget; 1 when the images are too big to batch."""
    first, hires = image_sizes(fields)
    pixels = max(first[0] * first[1], hires[0] * hires[1] if hires else 0, 1)
    if limits.auto_batch_image_pixels and pixels > limits.auto_batch_image_pixels:
        return 1
    cap = max(1, min(images, limits.auto_batch_pixels // pixels))
    return next(size for size in range(cap, 0, -1) if images % size == 0)


def batches(images: int, batch_size: int) -> int:
    return max(1, math.ceil(images / max(batch_size, 1)))
