import json
import subprocess
import sys
from pathlib import Path

import pytest

from sd_prompt_templates.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_render_combinatorial_lines(capsys):
    assert main(["render", "a {red|blue} {cat|dog}", "--mode", "combinatorial"]) == 0
    assert capsys.readouterr().out.splitlines() == ["a red cat", "a red dog", "a blue cat", "a blue dog"]


def test_render_random_json_with_vars_and_wildcards(capsys, wildcard_dir):
    code = main(
        [
            "render",
            "${who} likes __colors__",
            "--var",
            "who=Ann",
            "--count",
            "3",
            "--seed",
            "9",
            "--wildcards",
            str(wildcard_dir),
            "--json",
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["seeds"] == [9, 10, 11] and out["count"] == 2 and len(out["prompts"]) == 3
    assert all(p in ("Ann likes red", "Ann likes blue") for p in out["prompts"])
    again = main(
        [
            "render",
            "${who} likes __colors__",
            "--var",
            "who=Ann",
            "--count",
            "3",
            "--seed",
            "9",
            "--wildcards",
            str(wildcard_dir),
            "--json",
        ]
    )
    assert again == 0 and json.loads(capsys.readouterr().out)["prompts"] == out["prompts"]


def test_count_prints_a_big_number(capsys):
    assert main(["count", "{0|1|2|3|4|5|6|7|8|9}" * 30]) == 0
    assert capsys.readouterr().out.strip() == str(10**30)


def test_template_from_file_and_offset(tmp_path, capsys):
    f = tmp_path / "t.txt"
    f.write_text("{a|b|c|d}")
    assert main(["render", f"@{f}", "--mode", "combinatorial", "--offset", "2", "--count", "5"]) == 0
    assert capsys.readouterr().out.splitlines() == ["c", "d"]


def test_errors_go_to_stderr_with_position_and_fail(capsys):
    assert main(["render", "ok\nnot {closed"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "error: line 2, column 5: unclosed '{'" in captured.err
    assert "not {closed\n    ^" in captured.err


def test_module_entry_point_runs():
    proc = subprocess.run(
        [sys.executable, "-m", "sd_prompt_templates", "count", "__x__"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1 and "no wildcard directories" in proc.stderr


@pytest.mark.parametrize("argv", [["render"], ["render", "x", "--var", "novalue"], ["explode", "x"]])
def test_usage_errors_exit_non_zero(argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code != 0
