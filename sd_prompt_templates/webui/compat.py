"""Every difference between the WebUIs the extension runs on — AUTOMATIC1111 1.10, Forge, Forge Classic, reForge and
SD.Next — behind one small named shim each. The rest of the glue calls these and never asks which WebUI it is in."""

from __future__ import annotations

import importlib.util
import inspect
import secrets
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modules import devices, sd_samplers, shared

try:  # every WebUI has it; SD.Next's follows its --extensions-dir
    from modules.paths import extensions_dir as _extensions_dir
except ImportError:
    _extensions_dir = None


def _is_sdnext() -> bool:
    # SD.Next keeps its scripts in modules/scripts_manager.py (modules/scripts.py is a shim over it, since 2025);
    # its shared.url (since 2023) names the repository, vladmandic/automatic then vladmandic/sdnext.
    has_scripts_manager = importlib.util.find_spec("modules.scripts_manager") is not None
    return has_scripts_manager or "github.com/vladmandic/" in str(getattr(shared, "url", ""))


SDNEXT = _is_sdnext()


def _paste_buttons_module() -> Any:
    try:
        from modules import infotext_utils
    except ImportError:
        infotext_utils = None
    if hasattr(infotext_utils, "create_buttons"):  # A1111 1.8+, Forge, Forge Classic, reForge
        return infotext_utils
    # SD.Next (its infotext_utils is a one-line stub) and A1111 before 1.8
    from modules import generation_parameters_copypaste

    return generation_parameters_copypaste


paste_buttons = _paste_buttons_module()
"""The WebUI's module with `create_buttons`, `register_paste_params_button` and `ParamBinding`."""


def register_callback(hook: Callable[..., Any], callback: Callable[..., Any], name: str) -> None:
    """`script_callbacks.on_…(callback, name=…)`; Forge Classic's and SD.Next's hooks take no name."""
    if _takes_keyword(hook, "name"):
        hook(callback, name=name)
    else:
        hook(callback)


def _takes_keyword(function: Callable[..., Any], keyword: str) -> bool:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == keyword or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def sampler_names() -> list[str]:
    """The samplers the WebUI's own txt2img tab offers, in its order, without those the user hid."""
    if hasattr(sd_samplers, "visible_samplers"):  # A1111 1.10, Forge, reForge, SD.Next (less its separator rows)
        return [s.name for s in sd_samplers.visible_samplers()]
    if hasattr(sd_samplers, "visible_sampler_names"):  # Forge Classic
        return list(sd_samplers.visible_sampler_names())
    return [s.name for s in sd_samplers.samplers]


def default_sampler() -> str | None:
    """The sampler the WebUI's txt2img tab starts with: the first one it offers (A1111 1.10: DPM++ 2M; Forge
    Classic: DPM++ 2M Karras; SD.Next: Default, the model's own scheduler)."""
    names = sampler_names()
    return names[0] if names else None


def extensions_dir() -> Path:
    """The folder the WebUI loads extensions from: <data dir>/extensions, or SD.Next's --extensions-dir."""
    return Path(_extensions_dir) if _extensions_dir else Path(shared.data_path) / "extensions"


def on_cpu() -> bool:
    """Whether the WebUI generates on the CPU. `devices.device` is set at start-up, before any UI or request;
    unset (None), it counts as the CPU."""
    device = getattr(devices, "device", None)
    return getattr(device, "type", "cpu") == "cpu"


def api_credentials() -> str | None:
    """The credentials our REST routes require, "user:pass[,user2:pass2]", read at each request: --api-auth, as the
    WebUI's own API; on SD.Next, whose API parses --api-auth but reads only --auth and --auth-file, those."""
    api_auth = getattr(shared.cmd_opts, "api_auth", None)
    if api_auth or not SDNEXT:
        return api_auth
    return _sdnext_credentials()


_NOBODY = f"{secrets.token_hex(16)}:{secrets.token_hex(16)}"  # credentials no one has
_warned: set[str] = set()


def _sdnext_credentials() -> str | None:
    # As SD.Next's webui.py reads them for its login: --auth "u:p,u2:p2" (quotes and line ends dropped) and
    # --auth-file, pairs separated by commas or lines; its API also strips quotes around each user and password.
    entries: list[str] = []
    pairs: list[str] = []
    auth = getattr(shared.cmd_opts, "auth", None)
    if auth:
        entries += auth.strip('"').replace("\n", "").split(",")
    auth_file = getattr(shared.cmd_opts, "auth_file", None)
    if auth_file:
        try:
            text = Path(auth_file).read_text(encoding="utf8")
        except (OSError, UnicodeDecodeError) as exc:
            _warn_once(f"Prompt Templates: cannot read --auth-file ({exc}): the REST API lets in --auth's users only")
            pairs.append(_NOBODY)  # an unreadable file locks the routes, never opens them
        else:
            entries += [item for line in text.splitlines() for item in line.split(",")]
    for entry in entries:
        user, sep, password = entry.partition(":")
        user, password = user.replace('"', "").strip(), password.replace('"', "").strip()
        if sep and user:
            pairs.append(f"{user}:{password}")
    return ",".join(pairs) or None


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        print(message)


def cors_origins() -> str | None:
    """The origins the WebUI allows cross-site: --cors-allow-origins; SD.Next's is --cors-origins."""
    return _first_flag("cors_allow_origins", "cors_origins")


def cors_origin_regex() -> str | None:
    """--cors-allow-origins-regex; SD.Next's is --cors-regex."""
    return _first_flag("cors_allow_origins_regex", "cors_regex")


def _first_flag(*names: str) -> str | None:
    for name in names:
        value = getattr(shared.cmd_opts, name, None)
        if value:
            return value
    return None


def worker_name() -> str:
    """This WebUI's default name in the jobs it runs: its host and port, unique per WebUI on a machine."""
    port = getattr(shared.cmd_opts, "port", None) or 7860
    return f"{socket.gethostname()}:{port}"


def has_checkpoint(name: str) -> bool:
    """Whether this WebUI has the checkpoint `name` (a title, a file name, or a part of one, as the WebUI's own
    `override_settings` matching takes it). True when the WebUI cannot say: its own handler then answers."""
    try:
        from modules import sd_models
    except ImportError:
        return True
    find = getattr(sd_models, "get_closet_checkpoint_match", None)
    return True if find is None else find(name) is not None
