# Mirrors modules/sd_samplers.visible_samplers(): objects with a .name.
from types import SimpleNamespace


def visible_samplers():
    return [SimpleNamespace(name="Euler a"), SimpleNamespace(name="DPM++ 2M")]
