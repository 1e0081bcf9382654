# Mirrors Forge Classic's modules/sd_samplers.py (Haoming02/sd-webui-forge-classic, classic at 1f95d717): no
# visible_samplers(), only visible_sampler_names() (which can invert the hidden list) and the lists. Its txt2img tab
# offers visible_sampler_names() and preselects the first.
from types import SimpleNamespace

from modules import shared

all_samplers = [SimpleNamespace(name=name) for name in ("DPM++ 2M", "DPM++ 2M SDE", "Euler a", "Euler", "DDIM")]
samplers = all_samplers
samplers_hidden = set()


def visible_sampler_names():
    if getattr(shared.opts, "hide_samplers_invert", False):
        return [x.name for x in samplers if x.name in samplers_hidden]
    return [x.name for x in samplers if x.name not in samplers_hidden]
