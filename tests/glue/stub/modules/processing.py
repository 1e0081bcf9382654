# Mirrors modules/processing.py at v1.10.1 in the order things happen: before_process, setup_prompts (styles),
# seeds, scripts.process, p.init (not wrapped), then n_iter batches of batch_size images.
import dataclasses
import json
from typing import Any

from PIL import Image

from modules import shared


@dataclasses.dataclass
class StableDiffusionProcessingTxt2Img:
    prompt: Any = ""
    negative_prompt: Any = ""
    styles: list = None
    seed: int = -1
    subseed: int = -1
    subseed_strength: float = 0
    batch_size: int = 1
    n_iter: int = 1
    steps: int = 50
    width: int = 512
    height: int = 512
    enable_hr: bool = False
    hr_prompt: str = ""
    hr_negative_prompt: str = ""
    extra_generation_params: dict = None
    scripts: Any = None
    script_args: Any = ()
    sd_model: Any = None
    outpath_samples: str = ""
    outpath_grids: str = ""
    do_not_save_grid: bool = False
    sampler_name: str = None
    scheduler: str = None
    cfg_scale: float = 7.0
    override_settings: dict = None
    denoising_strength: float = 0.75
    hr_scale: float = 2.0
    hr_upscaler: str = None
    hr_second_pass_steps: int = 0
    hr_resize_x: int = 0
    hr_resize_y: int = 0

    def close(self):
        pass

    def __post_init__(self):
        self.extra_generation_params = self.extra_generation_params or {}
        self.initialized = False

    def setup_prompts(self):
        if isinstance(self.prompt, list):
            self.all_prompts = self.prompt
        else:
            self.all_prompts = self.batch_size * self.n_iter * [self.prompt]
        if isinstance(self.negative_prompt, list):
            self.all_negative_prompts = self.negative_prompt
        else:
            self.all_negative_prompts = [self.negative_prompt] * len(self.all_prompts)
        self.all_prompts = [shared.prompt_styles.apply_styles_to_prompt(x, self.styles) for x in self.all_prompts]
        self.main_prompt = self.all_prompts[0]
        if self.enable_hr:
            self.hr_prompt = self.hr_prompt or self.prompt
            self.hr_negative_prompt = self.hr_negative_prompt or self.negative_prompt
            self.all_hr_prompts = self.batch_size * self.n_iter * [self.hr_prompt]
            self.all_hr_negative_prompts = self.batch_size * self.n_iter * [self.hr_negative_prompt]

    def init(self, all_prompts, all_seeds, all_subseeds):
        self.initialized = True


@dataclasses.dataclass
class Processed:
    images: list
    all_prompts: list
    all_negative_prompts: list
    all_seeds: list
    infotexts: list

    def js(self):
        return json.dumps(dataclasses.asdict(self) | {"images": len(self.images)})


def process_images(p):
    if p.scripts is not None:
        p.scripts.before_process(p)
    seed = 1234 if p.seed in (None, -1) else p.seed
    p.setup_prompts()
    p.all_seeds = [int(seed) + (x if p.subseed_strength == 0 else 0) for x in range(len(p.all_prompts))]
    p.all_subseeds = [100 + x for x in range(len(p.all_prompts))]
    if p.scripts is not None:
        p.scripts.process(p)
    p.init(p.all_prompts, p.all_seeds, p.all_subseeds)
    images, infotexts = [], []
    for n in range(p.n_iter):
        for i in range(n * p.batch_size, (n + 1) * p.batch_size):
            images.append(Image.new("RGB", (8, 8)))
            params = ", ".join(f"{k}: {v}" for k, v in {"Seed": p.all_seeds[i], **p.extra_generation_params}.items())
            infotexts.append(f"{p.all_prompts[i]}\nNegative prompt: {p.all_negative_prompts[i]}\n{params}")
    return Processed(images, p.all_prompts, p.all_negative_prompts, p.all_seeds, infotexts)
