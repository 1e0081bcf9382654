"""How many of a job's batches go to the WebUI in one call.

Each call to the WebUI costs a fixed time besides its images (its scripts' arguments and setup, the model and
settings checks, the state's begin and end), and each call's images are recorded in one transaction when it returns.
For batches of a second or more that is noise, and each batch is its own call: its images are recorded the moment it
ends. Batches much faster than that (small images, few steps, a fast GPU) would spend a good part of the job on
those fixed costs, so consecutive ones are sent together, up to `JobLimits.call_seconds` of work a call: a WebUI
killed mid-call then makes that much again on resume (never an image twice in the job: only the next images are
recorded). How long a batch takes is learnt from the calls already made, per shape of plan; a shape not seen yet
goes one batch at a time until it is.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Sequence

from sd_prompt_templates.plan import GenerationPlan

# What a batch's time depends on, besides the batch size; what else differs between two plans of one shape
# (prompts, seeds, cfg scale...) changes it little.
SHAPE_FIELDS = (
    "width",
    "height",
    "steps",
    "sampler_name",
    "scheduler",
    "enable_hr",
    "hr_scale",
    "hr_resize_x",
    "hr_resize_y",
    "hr_second_pass_steps",
    "denoising_strength",
    "override_settings",
)
SHAPES_KEPT = 64

Shape = tuple[str, ...]


def shape_of(plan: GenerationPlan) -> Shape:
    payload = plan.payload
    scripts = sorted(str(name) for name in payload.get("alwayson_scripts") or {})  # names only: args may be images
    fields = (json.dumps(payload.get(name), sort_keys=True, default=str) for name in SHAPE_FIELDS)
    return (plan.kind, str(plan.batch_size), *fields, ",".join(scripts))


class Pacer:
    """The seconds a batch took, per shape of plan, from the last call of that shape (the call's time over its
    batches: the fixed cost included, so the estimate errs on the long side and calls on the short one)."""

    def __init__(self) -> None:
        self._seconds_per_batch: OrderedDict[Shape, float] = OrderedDict()

    def batches_in_next_call(
        self, plan: GenerationPlan, batches: Sequence[tuple[int, int]], call_seconds: float
    ) -> int:
        """How many of `batches` (the job's remaining ones, as (start, stop)) the next call makes: 1 at least;
        only whole batches of the plan's size go together."""
        per_batch = self._seconds_per_batch.get(shape_of(plan))
        if per_batch is None or call_seconds <= 0:
            return 1
        whole = 0
        while whole < len(batches) and batches[whole][1] - batches[whole][0] == plan.batch_size:
            whole += 1
        fit = int(call_seconds / per_batch) if per_batch > 0 else len(batches)
        return max(1, min(whole, fit))

    def measured(self, plan: GenerationPlan, batches: int, seconds: float) -> None:
        shape = shape_of(plan)
        self._seconds_per_batch.pop(shape, None)
        self._seconds_per_batch[shape] = seconds / max(batches, 1)
        while len(self._seconds_per_batch) > SHAPES_KEPT:
            self._seconds_per_batch.popitem(last=False)
