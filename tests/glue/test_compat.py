"""webui/compat.py: each shim on the stub as AUTOMATIC1111 v1.10.1 (and Forge, which agrees with it here), as Forge
Classic and as SD.Next (variants/), and the glue that uses them: the tab's sampler list and preselected sampler, its
"Send to" buttons, callback registration, and the REST API's credentials."""

import importlib
import runpy
import sys
from types import SimpleNamespace

import pytest

from tests.glue.conftest import ENTRY

PREFIX = "/prompt-templates/v1"
SAMPLER_ID = "prompt-templates-tab-sampler"


def compat():
    return importlib.import_module("sd_prompt_templates.webui.compat")


def sampler_dropdown(webui):
    """The tab as the WebUI builds it (entry file loaded, on_ui_tabs run): its Sampler's choices and value."""
    runpy.run_path(str(ENTRY))
    ((blocks, _title, _elem_id),) = webui.ui_tabs_callback()
    (dropdown,) = (b for b in blocks.blocks.values() if getattr(b, "elem_id", None) == SAMPLER_ID)
    choices = [c[0] if isinstance(c, tuple) else c for c in dropdown.choices]  # gradio 4: (label, value)
    return choices, dropdown.value


def registered_names(webui):
    return {key: [c.name for c in value] for key, value in webui.callback_map.items()}


# -- AUTOMATIC1111 v1.10.1 ---------------------------------------------------------------------------------------------
def test_a1111_is_not_sdnext_and_its_paste_buttons_are_in_infotext_utils(webui):
    from modules import infotext_utils

    assert compat().SDNEXT is False
    assert compat().paste_buttons is infotext_utils


def test_a1111_samplers_and_the_default_its_txt2img_tab_preselects(webui):
    assert compat().sampler_names() == ["DPM++ 2M", "DPM++ SDE", "Euler a", "Euler", "DDIM"]
    assert compat().default_sampler() == "DPM++ 2M"
    assert sampler_dropdown(webui) == (["DPM++ 2M", "DPM++ SDE", "Euler a", "Euler", "DDIM"], "DPM++ 2M")


def test_hidden_samplers_are_left_out_and_the_default_follows(webui, monkeypatch):
    from modules import sd_samplers

    monkeypatch.setattr(sd_samplers, "samplers_hidden", {"DPM++ 2M", "Euler"})
    assert compat().sampler_names() == ["DPM++ SDE", "Euler a", "DDIM"]
    assert compat().default_sampler() == "DPM++ SDE"


def test_no_samplers_means_no_default(webui, monkeypatch):
    from modules import sd_samplers

    monkeypatch.setattr(sd_samplers, "samplers", [])
    assert compat().default_sampler() is None
    assert sampler_dropdown(webui) == ([], None)


def test_a_failing_sampler_list_leaves_the_tab_with_its_fallback(webui, monkeypatch, capsys):
    from modules import sd_samplers

    def broken():
        raise RuntimeError("no samplers yet")

    monkeypatch.setattr(sd_samplers, "visible_samplers", broken)
    assert sampler_dropdown(webui) == (["Euler a"], None)
    assert "Prompt Templates: no samplers yet" in capsys.readouterr().out


def test_a1111_hooks_get_the_callbacks_name(webui):
    runpy.run_path(str(ENTRY))
    assert set(map(tuple, registered_names(webui).values())) == {("sd-prompt-templates",)}


def test_a_type_error_inside_a_hook_is_not_taken_for_a_missing_name(webui):
    calls = []

    def hook(callback, *, name=None):
        calls.append(name)
        raise TypeError("the hook's own")

    with pytest.raises(TypeError, match="the hook's own"):
        compat().register_callback(hook, print, "x")
    assert calls == ["x"]  # called once, with its name: never again without it


def test_a1111_credentials_are_api_auth_only(webui, monkeypatch):
    from modules import shared

    assert compat().api_credentials() is None
    # no such flag on A1111: another fork's --auth is not taken for SD.Next's
    monkeypatch.setattr(shared.cmd_opts, "auth", "someone:else", raising=False)
    assert compat().api_credentials() is None
    monkeypatch.setattr(shared.cmd_opts, "api_auth", "alice:secret")
    assert compat().api_credentials() == "alice:secret"


@pytest.mark.parametrize(("device", "on_cpu"), [(None, True), ("cpu", True), ("cuda", False), ("mps", False)])
def test_on_cpu_reads_the_device_at_use_time(webui, monkeypatch, device, on_cpu):
    from modules import devices

    monkeypatch.setattr(devices, "device", None if device is None else SimpleNamespace(type=device))
    assert compat().on_cpu() is on_cpu


def test_extensions_dir_is_the_webuis_own_or_the_data_dirs(webui, monkeypatch, tmp_path):
    assert compat().extensions_dir() == tmp_path / "extensions"  # the stub has no modules.paths
    monkeypatch.delitem(sys.modules, "sd_prompt_templates.webui.compat")
    monkeypatch.setitem(sys.modules, "modules.paths", SimpleNamespace(extensions_dir=str(tmp_path / "elsewhere")))
    assert compat().extensions_dir() == tmp_path / "elsewhere"  # SD.Next's --extensions-dir


def test_cors_flags_under_either_name(webui, monkeypatch):
    from modules import shared

    assert (compat().cors_origins(), compat().cors_origin_regex()) == (None, None)
    monkeypatch.setattr(shared.cmd_opts, "cors_allow_origins", "http://a.example")
    monkeypatch.setattr(shared.cmd_opts, "cors_allow_origins_regex", "http://b.*")
    assert (compat().cors_origins(), compat().cors_origin_regex()) == ("http://a.example", "http://b.*")
    monkeypatch.setattr(shared, "cmd_opts", SimpleNamespace(cors_origins="http://c.example", cors_regex="http://d.*"))
    assert (compat().cors_origins(), compat().cors_origin_regex()) == ("http://c.example", "http://d.*")


# -- Forge Classic -----------------------------------------------------------------------------------------------------
def test_forge_classic_samplers_come_from_visible_sampler_names(forge_classic):
    from modules import sd_samplers

    assert not hasattr(sd_samplers, "visible_samplers")
    assert compat().sampler_names() == ["DPM++ 2M", "DPM++ 2M SDE", "Euler a", "Euler", "DDIM"]
    assert compat().default_sampler() == "DPM++ 2M"


def test_forge_classic_inverted_hidden_list_is_honoured(forge_classic, monkeypatch):
    from modules import sd_samplers, shared

    monkeypatch.setattr(sd_samplers, "samplers_hidden", {"Euler", "DDIM"})
    shared.opts.hide_samplers_invert = True
    assert compat().sampler_names() == ["Euler", "DDIM"]
    assert compat().default_sampler() == "Euler"


def test_without_either_function_the_samplers_list_is_used(forge_classic, monkeypatch):
    from modules import sd_samplers

    monkeypatch.delattr(sd_samplers, "visible_sampler_names")
    assert compat().sampler_names() == ["DPM++ 2M", "DPM++ 2M SDE", "Euler a", "Euler", "DDIM"]


def test_forge_classic_tab_offers_every_sampler_and_preselects_the_default(forge_classic, capsys):
    assert sampler_dropdown(forge_classic) == (["DPM++ 2M", "DPM++ 2M SDE", "Euler a", "Euler", "DDIM"], "DPM++ 2M")
    assert "Prompt Templates:" not in capsys.readouterr().out  # no "has no attribute 'visible_samplers'"


def test_forge_classic_hooks_take_no_name(forge_classic):
    runpy.run_path(str(ENTRY))
    assert registered_names(forge_classic) == {
        "callbacks_app_started": [None],
        "callbacks_ui_settings": [None],
        "callbacks_infotext_pasted": [None],
        "callbacks_ui_tabs": [None],
        "callbacks_script_unloaded": [None],
    }


# -- SD.Next -----------------------------------------------------------------------------------------------------------
def test_sdnext_is_recognised_by_its_scripts_manager(sdnext, monkeypatch):
    from modules import shared

    monkeypatch.delattr(shared, "url")
    assert compat().SDNEXT is True


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://github.com/vladmandic/sdnext", True),
        ("https://github.com/vladmandic/automatic", True),  # its name until 2025, before scripts_manager existed
        ("https://github.com/AUTOMATIC1111/stable-diffusion-webui", False),
    ],
)
def test_sdnext_is_recognised_by_its_url(webui, monkeypatch, url, expected):
    from modules import shared

    monkeypatch.setattr(shared, "url", url, raising=False)
    assert compat().SDNEXT is expected


def test_sdnext_paste_buttons_are_in_generation_parameters_copypaste(sdnext):
    from modules import generation_parameters_copypaste, infotext_utils

    assert not hasattr(infotext_utils, "create_buttons")
    assert compat().paste_buttons is generation_parameters_copypaste


def test_sdnext_tab_is_built_with_its_send_buttons(sdnext):
    choices, value = sampler_dropdown(sdnext)
    assert (choices, value) == (["Default", "Euler", "Euler a", "DPM++ 2M", "UniPC"], "Default")  # no separators
    from modules import generation_parameters_copypaste

    bindings = generation_parameters_copypaste.registered_param_bindings
    assert [b.tabname for b in bindings] == ["txt2img", "img2img"]
    assert bindings[0].source_image_component is None and bindings[1].source_image_component is not None


def test_sdnext_hooks_take_no_name(sdnext):
    runpy.run_path(str(ENTRY))
    assert set(map(tuple, registered_names(sdnext).values())) == {(None,)}


@pytest.mark.parametrize(
    ("auth", "expected"),
    [
        (None, None),
        ("alice:secret", "alice:secret"),
        ('"alice:secret"', "alice:secret"),
        ("alice:secret, bob : pass:word ,broken,:nouser", "alice:secret,bob:pass:word"),
        ('"alice":"secret"', "alice:secret"),
    ],
)
def test_sdnext_credentials_are_its_auth(sdnext, auth, expected):
    from modules import shared

    shared.cmd_opts.auth = auth
    assert compat().api_credentials() == expected


def test_sdnext_auth_file_adds_its_users(sdnext, tmp_path):
    from modules import shared

    path = tmp_path / "auth.txt"
    path.write_text("bob:one\n\ncarol:two,dave:three\n", encoding="utf8")
    shared.cmd_opts.auth, shared.cmd_opts.auth_file = "alice:secret", str(path)
    assert compat().api_credentials() == "alice:secret,bob:one,carol:two,dave:three"
    path.write_text("erin:four\n", encoding="utf8")  # read at each request, as the rest
    assert compat().api_credentials() == "alice:secret,erin:four"


def test_an_unreadable_auth_file_locks_the_api_never_opens_it(sdnext, tmp_path, capsys):
    from modules import shared

    from sd_prompt_templates.api.deps import parse_credentials

    shared.cmd_opts.auth_file = str(tmp_path / "missing.txt")
    (locked,) = parse_credentials(compat().api_credentials())
    assert locked == tuple(compat()._NOBODY.split(":"))
    shared.cmd_opts.auth = "alice:secret"
    assert ("alice", "secret") in parse_credentials(compat().api_credentials())
    compat().api_credentials()
    assert capsys.readouterr().out.count("cannot read --auth-file") == 1


def test_sdnext_api_auth_wins_when_given(sdnext):
    from modules import shared

    shared.cmd_opts.auth, shared.cmd_opts.api_auth = "alice:secret", "bob:other"
    assert compat().api_credentials() == "bob:other"


@pytest.fixture
def sdnext_started(sdnext, started):
    return started


def test_sdnext_auth_guards_our_routes(sdnext_started, tmp_path):
    client, cmd_opts = sdnext_started.client, sdnext_started.shared.cmd_opts
    assert client.get(f"{PREFIX}/version").status_code == 200  # no --auth: open, as SD.Next's own API
    cmd_opts.auth = "alice:secret"
    assert client.get(f"{PREFIX}/version").status_code == 401
    assert client.post(f"{PREFIX}/render", json={"prompt": "x"}).status_code == 401
    assert client.get(f"{PREFIX}/version", auth=("alice", "secret")).status_code == 200
    assert client.get(f"{PREFIX}/version", auth=("alice", "wrong")).status_code == 401
    schema = client.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["HTTPBasic"] == {"type": "http", "scheme": "basic"}
    cmd_opts.auth = None
    (tmp_path / "auth.txt").write_text("bob:one\n", encoding="utf8")
    cmd_opts.auth_file = str(tmp_path / "auth.txt")
    assert client.get(f"{PREFIX}/version").status_code == 401
    assert client.get(f"{PREFIX}/version", auth=("bob", "one")).status_code == 200


def test_the_packages_log_shows_once_when_the_webui_configures_logging_after_it(webui, monkeypatch, capsys):
    import logging

    from sd_prompt_templates.webui import callbacks

    ours, root = logging.getLogger("sd_prompt_templates"), logging.getLogger()
    monkeypatch.setattr(ours, "handlers", [])
    monkeypatch.setattr(ours, "propagate", True)
    monkeypatch.setattr(root, "handlers", [])  # A1111 and Forge: none when the extensions load
    callbacks.log_to_console()
    logging.basicConfig(format="ROOT:%(name)s:%(message)s")  # Forge, later on: a root handler
    logging.getLogger("sd_prompt_templates.jobs.runner").info("job 1 is left for another WebUI")
    err = capsys.readouterr().err
    assert err.count("job 1 is left") == 1 and "Prompt Templates: INFO: job 1" in err
