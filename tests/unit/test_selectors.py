"""Every id and class that style.css and javascript/ use is one the Python code (or the script itself) creates."""

import re
from pathlib import Path

from sd_prompt_templates.ui import element_ids

ROOT = Path(__file__).resolve().parents[2]
PREFIX = element_ids.PREFIX
PY = "\n".join(p.read_text() for part in ("ui", "webui") for p in (ROOT / "sd_prompt_templates" / part).rglob("*.py"))
JS = "\n".join(p.read_text() for p in (ROOT / "javascript").glob("*.js"))
CSS = (ROOT / "style.css").read_text()


def python_ids() -> set[str]:
    ids = {element_ids.tab(item) for item in re.findall(r'ids\.tab\("([\w-]+)"\)', PY)}
    for item in re.findall(r'eid\("([\w-]+)"\)', PY):
        ids |= {element_ids.script(False, item), element_ids.script(True, item)}
    return ids


def python_classes() -> set[str]:
    return {v for k, v in vars(element_ids).items() if k.endswith("_CLASS")}


def js_created_classes() -> set[str]:
    made = re.findall(r'(?:className = |classList\.toggle\()PREFIX \+ "(-[\w-]+)"', JS)
    return {PREFIX + suffix for suffix in made}


def css_selectors() -> list[str]:
    without_comments = re.sub(r"/\*.*?\*/", "", CSS, flags=re.DOTALL)
    return [chunk.split("{")[0].strip() for chunk in without_comments.split("}") if "{" in chunk]


def test_css_selectors_match_what_the_code_creates():
    ids = set(re.findall(r"#(prompt-templates-[\w-]+)", CSS))
    classes = set(re.findall(r"\.(prompt-templates-[\w-]+)", CSS))
    assert ids and classes
    assert ids <= python_ids(), ids - python_ids()
    known = python_classes() | js_created_classes()
    assert classes <= known, classes - known


def test_js_ids_match_what_the_code_creates():
    used = {element_ids.tab(item) for item in re.findall(r'TAB \+ "([\w-]+)"', JS)}
    assert used and used <= python_ids(), used - python_ids()


def test_js_classes_match_what_the_code_creates():
    used = {PREFIX + suffix for suffix in re.findall(r'"\." \+ PREFIX \+ "(-[\w-]+)', JS)}
    assert {element_ids.ERROR_CLASS, element_ids.NAMES_CLASS} <= used
    assert used <= python_classes() | js_created_classes(), used - python_classes() - js_created_classes()


def test_every_css_selector_is_under_the_prefix():
    selectors = css_selectors()
    assert len(selectors) >= 5
    for selector in selectors:
        for part in selector.split(","):
            assert PREFIX in part, part


def test_the_script_exports_one_object_and_waits_for_the_ui():
    assert re.findall(r"window\.(\w+)\s*=", JS) == ["promptTemplates"]
    assert "onUiLoaded(" in JS
