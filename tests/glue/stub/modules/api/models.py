# Mirrors modules/api/models.py: the txt2img request model has the processing fields plus the API's own. As the real
# one (made by PydanticModelGenerator from StableDiffusionProcessingTxt2Img's __init__), every processing field is
# Optional[its type] with the dataclass default, and unknown fields are ignored.

from pydantic import BaseModel


class StableDiffusionTxt2ImgProcessingAPI(BaseModel):
    prompt: str | None = ""
    negative_prompt: str | None = ""
    styles: list | None = None
    seed: int | None = -1
    subseed: int | None = -1
    subseed_strength: float | None = 0
    sampler_name: str | None = None
    scheduler: str | None = None
    batch_size: int | None = 1
    n_iter: int | None = 1
    steps: int | None = 50
    cfg_scale: float | None = 7.0
    width: int | None = 512
    height: int | None = 512
    override_settings: dict | None = None
    enable_hr: bool | None = False
    denoising_strength: float | None = 0.75
    hr_scale: float | None = 2.0
    hr_upscaler: str | None = None
    hr_second_pass_steps: int | None = 0
    hr_resize_x: int | None = 0
    hr_resize_y: int | None = 0
    hr_prompt: str | None = ""
    hr_negative_prompt: str | None = ""
    refiner_checkpoint: str | None = None
    # the API's own fields
    sampler_index: str = "Euler"
    script_name: str | None = None
    script_args: list = []
    send_images: bool = True
    save_images: bool = False
    alwayson_scripts: dict = {}
    force_task_id: str | None = None
    infotext: str | None = None


class TextToImageResponse(BaseModel):
    images: list | None = None
    parameters: dict
    info: str
