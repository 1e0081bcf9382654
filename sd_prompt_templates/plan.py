"""A generation, worked out once: every image's prompt, negative prompt and seed, the batching, and what the WebUI
is asked. A plan is a plain value: it goes to JSON and back unchanged, so it can be stored (a job) and run later by
any WebUI; running it binds nothing and reads no template again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from sd_prompt_templates.engine import Mode

Kind = Literal["txt2img", "img2img"]
KINDS: tuple[Kind, ...] = ("txt2img", "img2img")
# Our own request fields: everything else in a request goes to the WebUI as it is.
OPTION_FIELDS = ("template", "variables", "mode", "count", "offset")
SCRIPT_KEY = "prompt templates"  # the Script's title, lower-cased, as the WebUI's API matches alwayson_scripts


@dataclass(frozen=True)
class GenerationPlan:
    kind: Kind
    payload: dict[str, Any]  # the WebUI's request: every field it takes but our own, JSON values only
    prompt_source: str  # the template text: the WebUI's `prompt`, which the infotext records
    negative_source: str
    prompts: list[str]  # one per image, in the WebUI's image order
    negative_prompts: list[str]
    seeds: list[int]  # the seed of each image, as the WebUI numbers them
    batch_size: int
    n_iter: int
    mode: Mode = "random"
    offset: int = 0
    template: str | None = None
    template_version: int | None = None
    variables: dict[str, str] = field(default_factory=dict)
    count: int | None = None  # combinations in all, when JSON can carry it exactly; count_text always
    count_text: str = ""
    hires_prompts: list[str] | None = None  # the hires pass's prompts, when it follows each image's prompt
    hires_negative_prompts: list[str] | None = None
    infotext: dict[str, str] = field(default_factory=dict)  # what the Script adds to each image's infotext

    @property
    def images(self) -> int:
        return len(self.prompts)

    def webui_request(self, task_id: str) -> dict[str, Any]:
        """The WebUI's API request for this plan: its own fields, the batching and seeds planned, the progress task,
        and the plan itself for our Script, which then gives each image its prompt."""
        payload = dict(self.payload)
        scripts = dict(payload.get("alwayson_scripts") or {})
        scripts[SCRIPT_KEY] = {"args": [{"enabled": True, "plan": self.to_dict()}]}
        payload.update(
            prompt=self.prompt_source,
            negative_prompt=self.negative_source,
            seed=self.seeds[0],
            batch_size=self.batch_size,
            n_iter=self.n_iter,
            force_task_id=task_id,
            alwayson_scripts=scripts,
        )
        return payload

    def part(self, start: int, stop: int, batch_size: int | None = None) -> GenerationPlan:
        """Images `start` to `stop` (not included) as a plan of their own, in one batch, or in batches of
        `batch_size`: each keeps its prompt and seed, so a job that stopped after image `start` goes on with exactly
        the images it would have made."""
        if not 0 <= start < stop <= self.images:
            raise ValueError(f"a part of a plan of {self.images} images must be within it, got {start}:{stop}")
        size = stop - start if batch_size is None else batch_size
        if size < 1 or (stop - start) % size:
            raise ValueError(f"a part of {stop - start} images cannot be cut into batches of {size}")
        payload = dict(self.payload)
        if float(payload.get("subseed_strength") or 0) != 0 and payload.get("subseed") is not None:
            payload["subseed"] = int(payload["subseed"]) + start  # variations: the WebUI numbers subseeds on
        cut = slice(start, stop)
        return replace(
            self,
            payload=payload,
            prompts=self.prompts[cut],
            negative_prompts=self.negative_prompts[cut],
            seeds=self.seeds[cut],
            batch_size=size,
            n_iter=(stop - start) // size,
            hires_prompts=None if self.hires_prompts is None else self.hires_prompts[cut],
            hires_negative_prompts=None if self.hires_negative_prompts is None else self.hires_negative_prompts[cut],
        )

    def batch_bounds(self) -> list[tuple[int, int]]:
        """(start, stop) of each batch, in the order the WebUI makes them."""
        return [(i, min(i + self.batch_size, self.images)) for i in range(0, self.images, self.batch_size)]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        # the fields as they are (JSON values only), without to_dict's deep copy: a job's submit writes this
        fields = {name: getattr(self, name) for name in self.__dataclass_fields__}
        return json.dumps(fields, ensure_ascii=False, sort_keys=True, allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GenerationPlan:
        known = {name for name in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"a generation plan has no field {', '.join(sorted(unknown))}")
        plan = cls(**{k: v for k, v in data.items()})
        plan.check()
        return plan

    @classmethod
    def from_json(cls, text: str) -> GenerationPlan:
        return cls.from_dict(json.loads(text))

    def check(self) -> None:
        """The invariants a runner relies on; a plan made by `plan()` always holds them."""
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        n = len(self.prompts)
        if not (len(self.negative_prompts) == len(self.seeds) == n == self.batch_size * self.n_iter):
            raise ValueError(
                f"a plan needs one prompt, negative prompt and seed per image ({self.batch_size} x {self.n_iter})"
            )
        for extra in (self.hires_prompts, self.hires_negative_prompts):
            if extra is not None and len(extra) != n:
                raise ValueError("a plan's hires prompts must be one per image")


@dataclass(frozen=True)
class WebUIReply:
    """What the WebUI's txt2img/img2img answered for a plan: its images (base64 PNG, in order) and its generation
    info (a JSON string: all_prompts, all_seeds, infotexts...)."""

    images: list[str]
    info: str = ""
    interrupted: bool = False  # stopped before its end (Interrupt or Skip): the last images are unfinished

    def info_dict(self) -> dict[str, Any]:
        try:
            info = json.loads(self.info or "{}")
        except json.JSONDecodeError:
            return {}
        return info if isinstance(info, dict) else {}

    def made(self) -> tuple[list[str], list[str]]:
        """The images the run made and their infotexts, in order, without the grid the WebUI puts first when it
        returns one (a request that saves its images, with "Return grid" on: `index_of_first_image` says so)."""
        info = self.info_dict()
        first = info.get("index_of_first_image")
        first = first if isinstance(first, int) and 0 <= first <= len(self.images) else 0
        texts = info.get("infotexts")
        texts = [str(t) for t in texts] if isinstance(texts, list) else []
        return self.images[first:], texts[first:]


@dataclass(frozen=True)
class Generated:
    """A plan's run: the WebUI's images and info, each image's prompt and seed as the WebUI reports them, and the
    request as it was made (`parameters`)."""

    images: list[str]
    info: str
    prompts: list[str]
    negative_prompts: list[str]
    seeds: list[int]
    template: str | None
    task_id: str
    parameters: dict[str, Any] = field(default_factory=dict)

    def made(self) -> tuple[list[str], list[str]]:
        """See `WebUIReply.made`."""
        return WebUIReply(self.images, self.info).made()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
