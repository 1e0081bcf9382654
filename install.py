"""Run by the WebUI at start-up (cwd and PYTHONPATH = the WebUI root). Installs only what is missing from the
WebUI's environment: the runtime dependencies listed in pyproject.toml, all of which the WebUI normally ships.
Standard library only; nothing of this extension is imported. `--skip-install` turns it off."""

import os
import re
import sys
from pathlib import Path

PYPROJECT = Path(__file__).resolve().with_name("pyproject.toml")


def runtime_requirements(text: str) -> list[str]:
    block = re.search(r"^dependencies\s*=\s*\[(.*?)\]", text, re.MULTILINE | re.DOTALL)
    return re.findall(r"[\"']([^\"']+)[\"']", block.group(1)) if block else []


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
    for requirement in runtime_requirements(PYPROJECT.read_text(encoding="utf-8")):
        name = distribution_name(requirement)
        if not launch.is_installed(name):
            launch.run_pip(f'install "{requirement}"', f"{name} for sd-prompt-templates")


if __name__ == "__main__":
    main()
