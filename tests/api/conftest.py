from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image
from pydantic import BaseModel

from sd_prompt_templates.api.deps import ApiContext
from sd_prompt_templates.api.main import mount
from sd_prompt_templates.plan import SCRIPT_KEY, GenerationPlan, WebUIReply
from sd_prompt_templates.service import PromptService
from sd_prompt_templates.settings import Settings
from tests.conftest import write_files


class Txt2ImgBase(BaseModel):
    """A few of /sdapi/v1/txt2img's fields (the glue builds the request model from the WebUI's own)."""

    prompt: str = ""
    negative_prompt: str = ""
    seed: int = -1
    steps: int = 50
    width: int = 512
    height: int = 512
    batch_size: int = 1
    n_iter: int = 1
    cfg_scale: float = 7.0
    enable_hr: bool = False
    hr_scale: float = 2.0
    hr_resize_x: int = 0
    subseed: int = -1
    sampler_name: str | None = None
    alwayson_scripts: dict = {}
    force_task_id: str | None = None
    send_images: bool = True


def png(text: str) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (len(text) % 256, 0, 0)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


class FakeGenerator:
    """Stands in for the WebUI and our Script in it: the WebUI's request for the plan, n_iter x batch_size images,
    and the prompts the Script gives them — read back from the plan in the request, as the Script reads it."""

    def __init__(self, service_for_script: PromptService) -> None:
        self.service = service_for_script
        self.payloads: list[dict[str, Any]] = []

    def run(self, plan: GenerationPlan, task_id: str) -> WebUIReply:
        payload = json.loads(json.dumps(plan.webui_request(task_id)))  # as it travels: JSON values only
        self.payloads.append(payload)
        applied = GenerationPlan.from_dict(payload["alwayson_scripts"][SCRIPT_KEY]["args"][0]["plan"])
        assert payload["n_iter"] * payload["batch_size"] == applied.images
        seeds = [payload["seed"] + i for i in range(applied.images)]
        assert seeds == applied.seeds or payload.get("subseed_strength")
        prompts, negatives = applied.prompts, applied.negative_prompts
        info = {
            "all_prompts": prompts,
            "all_negative_prompts": negatives,
            "all_seeds": applied.seeds,
            "infotexts": [f"{p}\nSeed: {s}" for p, s in zip(prompts, applied.seeds, strict=False)],
        }
        return WebUIReply(images=[png(p) for p in prompts], info=json.dumps(info))

    def interrupt(self, task_id: str) -> bool:
        return False


@pytest.fixture
def settings(tmp_path: Path, wildcard_dir: Path) -> Settings:
    return Settings(library_path=tmp_path / "lib" / "templates.sqlite3", wildcard_dirs=(wildcard_dir,))


class Img2ImgBase(Txt2ImgBase):
    """A few of /sdapi/v1/img2img's fields besides txt2img's."""

    init_images: list[str] | None = None
    denoising_strength: float = 0.75
    mask: str | None = None
    include_init_images: bool = False


class OptionalTxt2ImgBase(BaseModel):
    """As the WebUI's own request model is made: every processing field Optional, so null gets past it."""

    prompt: str | None = ""
    negative_prompt: str | None = ""
    seed: int | None = -1
    steps: int | None = 50
    width: int | None = 512
    height: int | None = 512
    batch_size: int | None = 1
    n_iter: int | None = 1
    cfg_scale: float | None = 7.0
    alwayson_scripts: dict = {}
    force_task_id: str | None = None


@pytest.fixture
def api(settings: Settings):
    return make_api(settings, Txt2ImgBase)


@pytest.fixture
def optional_api(settings: Settings):
    return make_api(settings, OptionalTxt2ImgBase)


def make_api(settings: Settings, model: type[BaseModel], img2img: type[BaseModel] | None = Img2ImgBase):
    """The routes on a plain app, as the glue mounts them: the WebUI's --api-auth and CORS settings are `auth` and
    `cors` here, read at each request; `model` stands for the WebUI's txt2img request model."""
    service = PromptService(lambda: settings, request_model=model)
    generator = FakeGenerator(service)
    service.generator = generator
    auth: dict[str, str | None] = {"value": None}
    cors: dict[str, str | None] = {"origins": None, "regex": None}
    app = FastAPI()
    context = ApiContext(
        service=service,
        credentials=lambda: auth["value"],
        cors_origins=lambda: cors["origins"],
        cors_origin_regex=lambda: cors["regex"],
    )
    mount(app, context, model, img2img)

    try:
        store = service.store()
    except OSError:  # a database that is away: the tests of that ask the API
        store = None

    class Api:
        client = TestClient(app)

    Api.app, Api.generator, Api.auth, Api.cors, Api.service, Api.store = app, generator, auth, cors, service, store
    return Api


@pytest.fixture
def portrait(api):
    api.store.create(
        {
            "name": "portrait",
            "prompt": "portrait of ${subject}, {soft|hard} light, ${mood} mood",
            "negative_prompt": "blurry",
            "variables": [
                {"name": "subject", "default": "a fisherman"},
                {"name": "mood", "type": "choice", "choices": ["calm", "wild"], "default": "calm"},
            ],
            "parameters": {"steps": 12, "width": 256},
        }
    )
    return "portrait"


__all__ = ["write_files"]
