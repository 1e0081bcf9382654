"""Every `example` block in docs/SYNTAX.md is a test, so the spec and the engine cannot drift apart."""

import re
from pathlib import Path

import pytest
import yaml

from sd_prompt_templates.engine import Expansion, TemplateError
from sd_prompt_templates.wildcards import WildcardLibrary
from tests.conftest import write_files

DOC = (Path(__file__).resolve().parents[2] / "docs" / "SYNTAX.md").read_text(encoding="utf-8")
BLOCK = re.compile(r"^```(example|wildcard [^\n]+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
BLOCKS = BLOCK.findall(DOC)
EXAMPLES = [yaml.safe_load(body) for kind, body in BLOCKS if kind == "example"]
FILES = {kind.split(" ", 1)[1]: body for kind, body in BLOCKS if kind.startswith("wildcard ")}


def test_the_doc_has_examples_of_every_kind():
    assert len(EXAMPLES) >= 20
    for key in ("combinations", "count", "random_in", "error"):
        assert any(key in e for e in EXAMPLES), key


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    return WildcardLibrary([write_files(tmp_path_factory.mktemp("wildcards"), FILES)])


@pytest.mark.parametrize("example", EXAMPLES, ids=[str(e["template"])[:40] for e in EXAMPLES])
def test_example(example, library):
    template = str(example["template"])
    variables = example.get("vars", {})
    if "error" in example:
        with pytest.raises(TemplateError) as info:
            Expansion(template, variables, library)
        assert str(info.value) == example["error"]
        return
    expansion = Expansion(template, variables, library)
    if "combinations" in example:
        assert expansion.combinations() == [str(p) for p in example["combinations"]]
        assert expansion.count == len(example["combinations"])
    if "count" in example:
        assert expansion.count == example["count"]
    if "random_in" in example:
        seen = {expansion.random(seed) for seed in range(200)}
        assert seen == set(example["random_in"])
