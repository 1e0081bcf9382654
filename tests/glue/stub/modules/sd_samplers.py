# Mirrors modules/sd_samplers.py at v1.10.1: the lists of SamplerData (objects with a .name) in their real order,
# the names hidden in Settings, visible_sampler_names() and visible_samplers(). The txt2img tab offers
# visible_samplers() and preselects the first, "DPM++ 2M".
from types import SimpleNamespace

all_samplers = [SimpleNamespace(name=name) for name in ("DPM++ 2M", "DPM++ SDE", "Euler a", "Euler", "DDIM")]
samplers = all_samplers
samplers_hidden = set()


def visible_sampler_names():
    return [x.name for x in samplers if x.name not in samplers_hidden]


def visible_samplers():
    return [x for x in samplers if x.name not in samplers_hidden]
