# Mirrors modules/api/models.py: the txt2img request model has the processing fields plus the API's own.

from pydantic import BaseModel


class StableDiffusionTxt2ImgProcessingAPI(BaseModel):
    prompt: str = ""
    negative_prompt: str = ""
    styles: list | None = None
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
    script_args: list = []
    alwayson_scripts: dict = {}
    force_task_id: str | None = None
    send_images: bool = True
    save_images: bool = False
    refiner_checkpoint: str | None = None


class TextToImageResponse(BaseModel):
    images: list | None = None
    parameters: dict
    info: str
