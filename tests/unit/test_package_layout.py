"""The layout README's "Where things live" describes: only webui/ imports the WebUI (`modules`), and holds nothing
else; the tab (ui/) is gradio only, its handlers and forms without gradio."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "sd_prompt_templates"


def imported(path: Path) -> set[str]:
    """The top-level names of every module a file imports, at any depth in it."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def modules_of(folder: str) -> dict[str, set[str]]:
    return {str(p.relative_to(PACKAGE)): imported(p) for p in sorted((PACKAGE / folder).rglob("*.py"))}


def top(names: set[str]) -> set[str]:
    return {name.split(".")[0] for name in names}


def test_only_webui_imports_the_webui():
    everything = modules_of(".")
    importing = {path for path, names in everything.items() if "modules" in top(names)}
    assert importing and all(path.startswith("webui/") for path in importing), importing


def test_webui_holds_only_code_that_uses_the_webui():
    for path, names in modules_of("webui").items():
        if path == "webui/__init__.py":
            continue
        uses = "modules" in top(names) or any(n.startswith("sd_prompt_templates.webui") for n in names)
        assert uses, f"{path} does not use the WebUI: it belongs elsewhere (ui/ for the tab)"


def test_the_tab_is_gradio_only_and_its_handlers_need_no_gradio():
    tab = modules_of("ui")
    assert {"ui/layout.py", "ui/sections.py", "ui/events.py", "ui/handlers/library.py"} <= set(tab)
    for path, names in tab.items():
        assert "modules" not in top(names), path
        assert not any(n.startswith("sd_prompt_templates.webui") for n in names), path
        if path not in {"ui/layout.py", "ui/sections.py", "ui/events.py"}:
            assert "gradio" not in top(names), path
