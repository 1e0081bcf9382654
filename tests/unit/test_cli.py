import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sd_prompt_templates import cli
from sd_prompt_templates.cli import main
from sd_prompt_templates.engine import TemplateError, TemplateLimitError

ROOT = Path(__file__).resolve().parents[2]
TEN = "{" + "|".join(f"a{i}" for i in range(10)) + "}"
HUGE = " ".join([TEN] * 5000)  # 10**5000 combinations: far over Python's 4,300-digit int-to-text limit
HUGE_ARGS = ["--max-length", str(len(HUGE))]


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err):
    """stderr holds exactly one line, `error: …`, and no traceback."""
    assert "Traceback" not in err
    assert err.startswith("error: ") and err.endswith("\n") and err.count("\n") == 1, err
    return err


# -- what worked before -----------------------------------------------------------------------------------------


def test_render_combinatorial_lines(capsys):
    assert main(["render", "a {red|blue} {cat|dog}", "--mode", "combinatorial"]) == 0
    assert capsys.readouterr().out.splitlines() == ["a red cat", "a red dog", "a blue cat", "a blue dog"]


def test_render_random_json_with_vars_and_wildcards(capsys, wildcard_dir):
    argv = ["render", "${who} likes __colors__", "--var", "who=Ann", "--count", "3", "--seed", "9"]
    argv += ["--wildcards", str(wildcard_dir), "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["seeds"] == [9, 10, 11] and out["count"] == 2 and out["count_text"] == "2" and len(out["prompts"]) == 3
    assert all(p in ("Ann likes red", "Ann likes blue") for p in out["prompts"])
    assert main(argv) == 0 and json.loads(capsys.readouterr().out)["prompts"] == out["prompts"]


def test_count_prints_a_big_number(capsys):
    assert main(["count", "{0|1|2|3|4|5|6|7|8|9}" * 30]) == 0
    assert capsys.readouterr().out.strip() == str(10**30)


def test_template_from_file_and_offset(tmp_path, capsys):
    f = tmp_path / "t.txt"
    f.write_text("{a|b|c|d}")
    assert main(["render", f"@{f}", "--mode", "combinatorial", "--offset", "2", "--count", "5"]) == 0
    assert capsys.readouterr().out.splitlines() == ["c", "d"]


def test_module_entry_point_runs():
    proc = subprocess.run(
        [sys.executable, "-m", "sd_prompt_templates", "count", "__x__"], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 1 and "no wildcard directories" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("argv", [["render"], ["explode", "x"], ["render", "x", "--mode", "sideways"]])
def test_usage_errors_exit_2(argv, capsys):
    code, out, err = run(argv, capsys)
    assert code == 2 and out == "" and "error:" in err and "Traceback" not in err


def test_bad_var_is_a_usage_error(capsys):
    code, out, err = run(["render", "x", "--var", "novalue"], capsys)
    assert code == 2 and out == ""
    assert one_error_line(err) == "error: --var takes NAME=VALUE, got 'novalue'\n"


# -- 1. reading the template: clear one-line errors, BOM and final newline --------------------------------------


def test_missing_template_file(tmp_path, capsys):
    code, out, err = run(["render", f"@{tmp_path / 'nope.txt'}"], capsys)
    assert code == 2 and out == ""
    assert one_error_line(err) == f"error: cannot read the template file '{tmp_path / 'nope.txt'}': no such file\n"


def test_template_file_that_is_a_folder(tmp_path, capsys):
    code, out, err = run(["count", f"@{tmp_path}"], capsys)
    assert code == 2 and out == ""
    assert one_error_line(err) == f"error: cannot read the template file '{tmp_path}': it is a folder, not a file\n"


def test_template_file_that_is_not_utf8(tmp_path, capsys):
    f = tmp_path / "latin1.txt"
    f.write_bytes("a caf\u00e9 {a|b}".encode("latin-1"))
    code, out, err = run(["render", f"@{f}"], capsys)
    assert code == 2 and out == ""
    one_error_line(err)
    assert f"the template file '{f}' is not UTF-8 text: byte 6 is 0xe9" in err and "save it as UTF-8" in err


def test_template_file_without_permission(tmp_path, capsys, monkeypatch):
    f = tmp_path / "secret.txt"
    f.write_text("x")

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", refuse)
    code, out, err = run(["render", f"@{f}"], capsys)
    assert code == 2 and out == ""
    assert one_error_line(err) == f"error: cannot read the template file '{f}': permission denied\n"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads files whatever their mode")
def test_template_file_without_permission_for_real(tmp_path, capsys):
    f = tmp_path / "secret.txt"
    f.write_text("x")
    f.chmod(0)
    try:
        code, _, err = run(["render", f"@{f}"], capsys)
    finally:
        f.chmod(0o600)
    assert code == 2 and one_error_line(err).endswith("permission denied\n")


def test_at_without_a_name(capsys):
    code, _, err = run(["render", "@"], capsys)
    assert code == 2 and one_error_line(err).startswith("error: '@' needs a file name")


def test_missing_wildcard_folder_is_refused(tmp_path, capsys):
    code, _, err = run(["render", "x", "--wildcards", str(tmp_path / "nope")], capsys)
    assert code == 2 and one_error_line(err) == f"error: --wildcards {tmp_path / 'nope'}: no such folder\n"


def test_yaml_wildcards_without_pyyaml_say_what_to_install(tmp_path, capsys, monkeypatch):
    (tmp_path / "set.yaml").write_text("fruit: [apple, pear]\n")
    monkeypatch.setitem(sys.modules, "yaml", None)  # `import yaml` now fails as it does without PyYAML
    code, out, err = run(["render", "__fruit__", "--wildcards", str(tmp_path)], capsys)
    assert code == 1 and out == ""
    assert "error: line 1, column 1: wildcard '__fruit__' is unknown" in err
    assert "set.yaml could not be loaded: reading YAML needs PyYAML: python -m pip install PyYAML" in err


@pytest.mark.parametrize(
    "data",
    [
        b"\xef\xbb\xbfhello {a|b}\n",
        b"\xef\xbb\xbfhello {a|b}\r\n",
        b"hello {a|b}",
        b"hello {a|b}\r\n",
    ],
)
def test_file_bom_and_final_newline_are_not_the_template(tmp_path, capsys, data):
    f = tmp_path / "t.txt"
    f.write_bytes(data)
    code, out, _ = run(["render", f"@{f}", "--mode", "combinatorial", "--json"], capsys)
    assert code == 0 and json.loads(out)["prompts"] == ["hello a", "hello b"]


def test_only_one_final_newline_is_dropped_and_line_ends_are_newlines(tmp_path, capsys):
    f = tmp_path / "t.txt"
    f.write_bytes(b"one\r\ntwo\n\n")
    code, out, _ = run(["render", f"@{f}", "--json"], capsys)
    assert code == 0 and json.loads(out)["prompts"] == ["one\ntwo\n"]


def test_errors_in_a_file_template_point_into_the_file_without_the_bom(tmp_path, capsys):
    f = tmp_path / "t.txt"
    f.write_bytes(b"\xef\xbb\xbfok\r\nnot {closed\r\n")
    code, out, err = run(["render", f"@{f}"], capsys)
    assert code == 1 and out == ""
    assert err.startswith("error: line 2, column 5: unclosed '{'") and err.endswith("not {closed\n    ^\n")


def _stdin(monkeypatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))


@pytest.mark.parametrize("data", [b"\xef\xbb\xbf{a|b} x\n", b"{a|b} x\r\n", b"{a|b} x"])
def test_stdin_bom_and_final_newline_are_not_the_template(monkeypatch, capsys, data):
    _stdin(monkeypatch, data)
    code, out, _ = run(["render", "-", "--mode", "combinatorial"], capsys)
    assert code == 0 and out == "a x\nb x\n"


def test_stdin_that_is_not_utf8(monkeypatch, capsys):
    _stdin(monkeypatch, b"{a|b}\xff\n")
    code, out, err = run(["render", "-"], capsys)
    assert code == 2 and out == ""
    assert one_error_line(err).startswith("error: standard input is not UTF-8 text: byte 6 is 0xff")


def test_stdin_through_a_real_pipe():
    proc = subprocess.run(
        [sys.executable, "-m", "sd_prompt_templates", "render", "-", "--mode", "combinatorial"],
        input=b"\xef\xbb\xbf{a|b}!\r\n",
        cwd=ROOT,
        capture_output=True,
    )
    assert proc.returncode == 0 and proc.stdout.decode().splitlines() == ["a!", "b!"]


@pytest.mark.parametrize(
    ("argv", "stdin", "code"),
    [
        (["render", "@does-not-exist.txt"], b"", 2),
        (["render", "@sd_prompt_templates"], b"", 2),
        (["count", "-"], b"\xff\xfe{a|b}", 2),
        (["render", "{a|b"], b"", 1),
        (["render", "{a|b}", "--max-prompts", "0"], b"", 2),
        (["render", "{a|b}", "--mode", "combinatorial", "--offset", "9"], b"", 2),
        (["render", "{a|b}", "--count", "x"], b"", 2),
        (["count", "-", *HUGE_ARGS], HUGE.encode(), 0),  # from stdin: one argument holds at most 128 kB
        (["render", "-", *HUGE_ARGS, "--mode", "combinatorial"], HUGE.encode(), 2),
    ],
    ids=["missing", "folder", "not-utf8", "syntax", "max-prompts-0", "offset", "count-not-int", "huge", "huge-all"],
)
def test_no_traceback_in_a_real_process(argv, stdin, code):
    proc = subprocess.run(
        [sys.executable, "-m", "sd_prompt_templates", *argv], input=stdin, cwd=ROOT, capture_output=True
    )
    err = proc.stderr.decode("utf-8")
    assert proc.returncode == code and "Traceback" not in err
    assert (err == "") if code == 0 else ("error: " in err)


def test_a_closed_pipe_is_no_traceback():
    template = "{0|1|2|3|4|5|6|7|8|9}" * 4 + " " + "x" * 40
    proc = subprocess.Popen(
        [sys.executable, "-m", "sd_prompt_templates", "render", template, "--mode", "combinatorial"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout.readline() == b"0000 " + b"x" * 40 + b"\n"
    proc.stdout.close()  # like `| head -1`: 10,000 lines (460 kB) cannot all fit in the pipe
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    proc.stderr.close()
    assert "Traceback" not in err and "Exception ignored" not in err


# -- 2. offset, --max-prompts and --count are checked -----------------------------------------------------------


@pytest.mark.parametrize("offset", ["6", "12"])
def test_offset_past_the_end(capsys, offset):
    code, out, err = run(["render", "{a|b|c|d|e|f}", "--mode", "combinatorial", "--offset", offset], capsys)
    assert code == 2 and out == ""
    assert one_error_line(err).startswith(f"error: offset {offset} is past the last combination: the template has 6")


def test_last_offset_still_works(capsys):
    code, out, _ = run(["render", "{a|b|c|d|e|f}", "--mode", "combinatorial", "--offset", "5"], capsys)
    assert code == 0 and out == "f\n"


def test_offset_in_random_mode_is_refused(capsys):
    code, out, err = run(["render", "{a|b}", "--offset", "1"], capsys)
    assert code == 2 and out == "" and "--offset is for --mode combinatorial" in one_error_line(err)


@pytest.mark.parametrize(("option", "value"), [("--max-prompts", "0"), ("--max-prompts", "-1"), ("--count", "-1")])
def test_bad_numbers_are_refused(capsys, option, value):
    code, out, err = run(["render", "{a|b}", option, value], capsys)
    minimum = 1 if option == "--max-prompts" else 0
    assert code == 2 and out == ""
    assert f"error: argument {option}: must be {minimum} or more, got {value}" in err


def test_negative_offset_is_refused(capsys):
    code, _, err = run(["render", "{a|b}", "--mode", "combinatorial", "--offset", "-1"], capsys)
    assert code == 2 and "argument --offset: must be 0 or more, got -1" in err


def test_max_prompts_is_applied_not_bent(capsys):
    code, out, err = run(["render", "{a|b|c}", "--count", "3", "--max-prompts", "2"], capsys)
    assert code == 2 and out == ""
    assert one_error_line(err) == "error: 3 prompts requested; the limit is 2: raise --max-prompts\n"
    code, out, err = run(["render", "{a|b|c}", "--mode", "combinatorial", "--max-prompts", "2"], capsys)
    assert code == 2 and out == "" and "3 combinations requested; the limit is 2: pass --count N" in err
    code, out, _ = run(["render", "{a|b|c}", "--mode", "combinatorial", "--max-prompts", "2", "--count", "2"], capsys)
    assert code == 0 and out == "a\nb\n"


def test_count_zero_is_allowed(capsys):
    code, out, _ = run(["render", "{a|b}", "--count", "0", "--json"], capsys)
    assert code == 0 and json.loads(out)["prompts"] == []


# -- 3. errors with and without a position ----------------------------------------------------------------------


def test_errors_go_to_stderr_with_position_and_fail(capsys):
    code, out, err = run(["render", "ok\nnot {closed"], capsys)
    assert code == 1 and out == ""
    assert err == (
        "error: line 2, column 5: unclosed '{': expected '}' before the end of the template\nnot {closed\n    ^\n"
    )


def test_an_error_without_a_position_claims_none(capsys, monkeypatch):
    def fail(*args, **kwargs):
        raise TemplateLimitError("1001 prompts requested; the limit per request is 1000", None, None)

    monkeypatch.setattr(cli, "Expansion", fail)
    code, out, err = run(["render", "x"], capsys)
    assert code == 1 and out == ""
    assert err == "error: 1001 prompts requested; the limit per request is 1000\n"


def test_a_plain_template_error_without_a_position(capsys, monkeypatch):
    def fail(*args, **kwargs):
        raise TemplateError("msg", None, None)

    monkeypatch.setattr(cli, "Expansion", fail)
    code, _, err = run(["count", "x"], capsys)
    assert code == 1 and err == "error: msg\n"


def test_template_length_limit_names_the_option(capsys):
    code, out, err = run(["count", "x" * 30, "--max-length", "20"], capsys)
    assert code == 1 and out == ""
    assert one_error_line(err) == "error: the template is 30 characters long; the limit is 20: raise --max-length\n"


# -- 4. counts of any size --------------------------------------------------------------------------------------


def test_count_json(capsys):
    code, out, _ = run(["count", "{a|b}{1|2|3}", "--json"], capsys)
    assert code == 0 and json.loads(out) == {"count": 6, "count_text": "6"}


@pytest.mark.parametrize(("digits", "exact"), [(15, True), (16, False)])  # 2**53 - 1 is about 9.007e15
def test_count_json_is_null_past_what_json_clients_read_exactly(capsys, digits, exact):
    code, out, _ = run(["count", "{0|1|2|3|4|5|6|7|8|9}" * digits, "--json"], capsys)
    assert code == 0 and json.loads(out) == {"count": 10**digits if exact else None, "count_text": str(10**digits)}


def test_count_of_a_huge_template(capsys):
    code, out, err = run(["count", HUGE, *HUGE_ARGS], capsys)
    assert (code, out, err) == (0, "≈1.00e5000\n", "")
    code, out, err = run(["count", HUGE, *HUGE_ARGS, "--json"], capsys)
    assert code == 0 and json.loads(out) == {"count": None, "count_text": "≈1.00e5000"}


def test_count_over_4300_digits_within_the_default_length(capsys):
    picks = "{1-2000$$" + "|".join(f"a{i}" for i in range(2000)) + "}"  # 10,899 characters, 5,736 digits
    code, out, err = run(["count", picks], capsys)
    assert code == 0 and err == "" and re.fullmatch(r"≈\d\.\d\de5735\n", out)
    code, out, err = run(["render", picks, "--json", "--seed", "3"], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["count"] is None and doc["count_text"].endswith("e5735") and len(doc["prompts"]) == 1


def test_render_json_of_a_huge_template(capsys):
    code, out, _ = run(["render", HUGE, *HUGE_ARGS, "--json", "--seed", "1"], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["count"] is None and doc["count_text"] == "≈1.00e5000"
    assert len(doc["prompts"]) == 1 and re.fullmatch(r"(a\d )+a\d", doc["prompts"][0])


def test_render_all_of_a_huge_template_is_refused_not_crashed(capsys):
    code, out, err = run(["render", HUGE, *HUGE_ARGS, "--mode", "combinatorial"], capsys)
    assert code == 2 and out == ""
    assert one_error_line(err).startswith("error: ≈1.00e5000 combinations requested; the limit is 10000")


def test_render_json_count_and_offset(capsys):
    code, out, _ = run(
        ["render", "{a|b|c}", "--mode", "combinatorial", "--offset", "1", "--seed", "5", "--json"], capsys
    )
    assert code == 0 and json.loads(out) == {
        "mode": "combinatorial",
        "count": 3,
        "count_text": "3",
        "offset": 1,
        "prompts": ["b", "c"],
        "seeds": [5, 6],
    }


# -- 5. an unknown wildcard inside a collection -----------------------------------------------------------------


def test_unknown_wildcard_inside_a_collection_names_file_and_line(tmp_path, capsys):
    (tmp_path / "a.txt").write_text("ok\n__missing__\n")
    code, out, err = run(["render", "x, __a__", "--wildcards", str(tmp_path), "--mode", "combinatorial"], capsys)
    assert code == 1 and out == ""
    first, *excerpt = err.splitlines()
    assert first.startswith("error: line 1, column 4: ")  # where the template refers to the collection
    assert "a.txt line 2" in first and "'__missing__' is unknown" in first  # the whole message, file and line
    assert excerpt == ["x, __a__", "   ^"]


# -- 6. the console script and `python -m` ----------------------------------------------------------------------


def test_pyproject_console_script_runs_the_cli():
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    scripts = re.search(r"^\[project\.scripts\]\n((?:[^\[\n].*\n)+)", pyproject, re.M)
    assert scripts, "pyproject.toml has no [project.scripts]"
    entry = re.search(r'^sd-prompt-templates\s*=\s*"([\w.]+):(\w+)"', scripts.group(1), re.M)
    assert entry and entry.groups() == ("sd_prompt_templates.cli", "main")
    # what pip's generated `sd-prompt-templates` script does
    shim = f"import sys; from {entry.group(1)} import {entry.group(2)}; sys.argv[0] = 'sd-prompt-templates'; "
    shim += f"sys.exit({entry.group(2)}())"
    proc = subprocess.run(
        [sys.executable, "-c", shim, "count", "{a|b}{1|2|3}"], cwd=ROOT, capture_output=True, text=True
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "6\n", "")
    usage = subprocess.run([sys.executable, "-c", shim, "render"], cwd=ROOT, capture_output=True, text=True)
    assert usage.returncode == 2 and usage.stderr.startswith("usage: sd-prompt-templates render")


def test_python_m_names_itself_so():
    proc = subprocess.run(
        [sys.executable, "-m", "sd_prompt_templates", "--help"], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0 and proc.stdout.startswith("usage: python -m sd_prompt_templates")


def test_a_template_file_without_end_is_refused_not_read_for_ever(capsys):
    code, out, err = run(["count", "@/dev/zero"], capsys)
    assert code == 2 and out == "" and "is larger than 64 MiB" in err
