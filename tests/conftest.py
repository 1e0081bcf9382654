from __future__ import annotations

from pathlib import Path

import pytest

from sd_prompt_templates.wildcards import WildcardLibrary


def write_files(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def wildcard_dir(tmp_path: Path) -> Path:
    return write_files(
        tmp_path / "wildcards",
        {
            "colors.txt": "# comment\nred\n\nblue\n",
            "animals/pets.txt": "cat\ndog\n",
            "animals/birds.yaml": "birds: [owl, hawk]\n",
            "nested.txt": "{light|dark} __colors__\n",
        },
    )


@pytest.fixture
def wildcards(wildcard_dir: Path) -> WildcardLibrary:
    return WildcardLibrary([wildcard_dir], rescan_interval=0)
