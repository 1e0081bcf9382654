"""modules/devices.py at v1.10.1: `device` is a torch.device, None until shared_init.initialize() sets it at
start-up (CPU with --use-cpu all). Only its `type` matters here."""

from types import SimpleNamespace

device = SimpleNamespace(type="cpu")
