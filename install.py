"""Run by the WebUI at start-up (cwd and PYTHONPATH = the WebUI root). Installs only what is missing from the
WebUI's environment: the runtime dependencies listed in pyproject.toml, and the PostgreSQL driver (the `postgres`
extra) only when a shared database is asked for: $SD_PROMPT_TEMPLATES_DATABASE_URL, or the setting in the WebUI's
settings file. Standard library only; nothing of this extension is imported. `--skip-install` turns it off."""

import json
import os
import re
import sys
from pathlib import Path

PYPROJECT = Path(__file__).resolve().with_name("pyproject.toml")
DATABASE_ENV = "SD_PROMPT_TEMPLATES_DATABASE_URL"
DATABASE_OPTION = "prompt_templates_database_url"


def runtime_requirements(text: str) -> list[str]:
    block = re.search(r"^dependencies\s*=\s*\[(.*?)\]", text, re.MULTILINE | re.DOTALL)
    return re.findall(r"[\"']([^\"']+)[\"']", block.group(1)) if block else []


def optional_requirements(text: str, extra: str) -> list[str]:
    block = re.search(rf"^{extra}\s*=\s*\[(.*?)\]\s*(?:#.*)?$", text, re.MULTILINE | re.DOTALL)  # "x[extra]" inside
    return re.findall(r"[\"']([^\"']+)[\"']", block.group(1)) if block else []


def settings_file(launch_args: object) -> Path:
    """The WebUI's settings file: --ui-settings-file, else config.json in its data folder (--data-dir) or here."""
    configured = getattr(launch_args, "ui_settings_file", None)
    if configured:
        return Path(configured)
    return Path(getattr(launch_args, "data_dir", None) or ".") / "config.json"


def wants_postgres(launch_args: object) -> bool:
    url = os.environ.get(DATABASE_ENV, "")
    if not url:
        try:
            url = str(json.loads(settings_file(launch_args).read_text(encoding="utf-8")).get(DATABASE_OPTION) or "")
        except (OSError, ValueError, AttributeError):
            return False
    return url.strip().startswith(("postgresql", "postgres:"))


def distribution_name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0]


def skip_requested() -> bool:
    return "--skip-install" in sys.argv or "--skip-install" in os.environ.get("COMMANDLINE_ARGS", "")


def main() -> None:
    if skip_requested():
        return
    import launch  # the WebUI's own; on its PYTHONPATH when it runs this file

    if getattr(getattr(launch, "args", None), "skip_install", False):
        return
    text = PYPROJECT.read_text(encoding="utf-8")
    requirements = runtime_requirements(text)
    if wants_postgres(getattr(launch, "args", None)):
        requirements += optional_requirements(text, "postgres")
    for requirement in requirements:
        name = distribution_name(requirement)
        if not launch.is_installed(name):
            launch.run_pip(f'install "{requirement}"', f"{name} for sd-prompt-templates")


if __name__ == "__main__":
    main()
