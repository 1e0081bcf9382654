# Mirrors SD.Next's modules/sd_samplers.py (master at 058a7f0c): diffusers samplers, "Default" (the model's own
# scheduler) first, with "── name ──" separator rows that visible_samplers() leaves out. Its txt2img tab preselects
# "Default".
from types import SimpleNamespace

all_samplers = [
    SimpleNamespace(name=name)
    for name in ("Default", "── Euler ──", "Euler", "Euler a", "── DPM / DPM++ ──", "DPM++ 2M", "UniPC")
]
samplers = all_samplers
samplers_for_img2img = all_samplers


def is_separator(name) -> bool:
    return isinstance(name, str) and name.startswith("─")


def visible_samplers(img: bool = False):
    pool = samplers_for_img2img if img else samplers
    return [s for s in pool if not is_separator(s.name)]
