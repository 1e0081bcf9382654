"""`sd-prompt-templates` / `python -m sd_prompt_templates`: try the template language without a WebUI.

Exit codes: 0 done; 1 the template cannot be expanded (its syntax, an unknown wildcard or variable, a limit on the
template); 2 the command line or the input is wrong (a bad option, an unreadable template file, an offset past the
last combination, more prompts than --max-prompts). Every error is one `error: …` line on stderr (a template error
with a position adds the line and a caret under the column), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from sd_prompt_templates import __version__
from sd_prompt_templates.counts import json_count, show
from sd_prompt_templates.engine import DEFAULT_LIMITS, MODES, Expansion, Limits, TemplateError, fixed_seed
from sd_prompt_templates.wildcards import WildcardLibrary

PROG = "sd-prompt-templates"
USAGE_ERROR = 2
TEMPLATE_ERROR = 1


class CommandError(Exception):
    """A problem with the command line or the input, reported as `error: MESSAGE` with exit code `code`."""

    def __init__(self, message: str, code: int = USAGE_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


# -- reading the template ---------------------------------------------------------------------------------------


MAX_READ = 64 * 2**20  # bytes: far past the longest template Settings allow (1,000,000 characters)


def _template_text(arg: str) -> str:
    """The template: the argument itself, `@FILE`'s text or standard input's (`-`).

    Text read from a file or standard input must be UTF-8; a byte order mark at its start and its final newline are
    not part of the template, and Windows line ends are read as plain newlines.
    """
    if arg == "-":
        stdin = sys.stdin
        if stdin is None:
            raise CommandError("cannot read the template from standard input: there is none")
        buffer = getattr(stdin, "buffer", None)
        try:
            data: bytes | str = buffer.read(MAX_READ + 1) if buffer is not None else stdin.read(MAX_READ + 1)
        except UnicodeDecodeError as exc:  # a text-only stdin (tests, embedding) that decoded for us
            raise CommandError(f"standard input is not UTF-8 text ({exc.reason})") from None
        except OSError as exc:
            raise CommandError(f"cannot read the template from standard input: {_os_reason(exc)}") from None
        where = "standard input"
    elif arg.startswith("@"):
        name = arg[1:]
        if not name:
            raise CommandError("'@' needs a file name: @template.txt reads the template from template.txt")
        path = Path(name).expanduser()
        try:
            with path.open("rb") as file:
                data = file.read(MAX_READ + 1)  # /dev/zero and the like end somewhere
        except OSError as exc:
            raise CommandError(f"cannot read the template file '{name}': {_os_reason(exc)}") from None
        where = f"the template file '{name}'"
    else:
        return arg
    if len(data) > MAX_READ:
        raise CommandError(f"{where} is larger than {MAX_READ // 2**20} MiB: that is no template")
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CommandError(
                f"{where} is not UTF-8 text: byte {exc.start + 1} is 0x{data[exc.start]:02x} ({exc.reason}); "
                "save it as UTF-8"
            ) from None
    else:
        text = data
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    return text.removesuffix("\n")


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, IsADirectoryError):
        return "it is a folder, not a file"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return exc.strerror or str(exc) or type(exc).__name__


def _variables(pairs: Sequence[str]) -> dict[str, str]:
    values = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise CommandError(f"--var takes NAME=VALUE, got {pair!r}")
        values[name] = value
    return values


def _wildcards(folders: Sequence[str]) -> WildcardLibrary | None:
    if not folders:
        return None
    paths = []
    for folder in folders:
        path = Path(folder).expanduser()
        if not path.exists():
            raise CommandError(f"--wildcards {folder}: no such folder")
        if not path.is_dir():
            raise CommandError(f"--wildcards {folder}: not a folder")
        paths.append(path)
    return WildcardLibrary(paths, rescan_interval=float("inf"))


# -- the command line -------------------------------------------------------------------------------------------


def _at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {minimum} or more, got {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Expand prompt templates: variants {a|b}, wildcards __name__, variables ${name}.",
        epilog="Exit codes: 0 done, 1 an error in the template, 2 a command-line or input error.",
    )
    parser.add_argument("--version", action="version", version=f"sd-prompt-templates {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{render,count,migrate-library}")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("template", help="template text, @FILE to read it from a UTF-8 file, or - for standard input")
        p.add_argument("--var", action="append", default=[], metavar="NAME=VALUE", help="a variable (repeatable)")
        p.add_argument("--wildcards", action="append", default=[], metavar="DIR", help="a wildcard folder (repeatable)")
        p.add_argument("--json", action="store_true", help="print JSON instead of text")
        p.add_argument(
            "--max-length",
            type=_at_least(1),
            default=DEFAULT_LIMITS.max_template_length,
            metavar="N",
            help=f"refuse templates longer than N characters (default {DEFAULT_LIMITS.max_template_length:,}, "
            "as in the WebUI)",
        )

    render_cmd = commands.add_parser("render", help="print expanded prompts, one a line")
    common(render_cmd)
    render_cmd.add_argument("--mode", choices=MODES, default="random")
    render_cmd.add_argument(
        "--count",
        type=_at_least(0),
        default=None,
        metavar="N",
        help="how many prompts (random: default 1; combinatorial: default all that remain)",
    )
    render_cmd.add_argument("--seed", type=int, default=None, metavar="S", help="seed of the first prompt (random)")
    render_cmd.add_argument(
        "--offset", type=_at_least(0), default=0, metavar="K", help="first combination, from 0 (combinatorial)"
    )
    render_cmd.add_argument(
        "--max-prompts", type=_at_least(1), default=10_000, metavar="N", help="refuse more than N prompts"
    )

    count_cmd = commands.add_parser("count", help="print the number of combinations")
    common(count_cmd)

    migrate_cmd = commands.add_parser(
        "migrate-library",
        help="move a local template library into the database several WebUIs share (all or nothing)",
        description="Copy every template of a local library file into a shared database, in one transaction: "
        "all of them land, or none does. The local file is only read.",
    )
    migrate_cmd.add_argument("--to", required=True, metavar="URL", help="the shared database: postgresql://…")
    migrate_cmd.add_argument(
        "--from",
        dest="source",
        default=None,
        metavar="FILE",
        help="the library file (default: $SD_PROMPT_TEMPLATES_LIBRARY, else prompt-templates/templates.sqlite3 "
        "under the current folder: run it from the WebUI's folder)",
    )
    migrate_cmd.add_argument(
        "--on-conflict",
        choices=("error", "skip", "replace"),
        default="error",
        help="a name the database has already: stop everything (default), keep the database's, or replace it",
    )
    return parser


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    """Run the command line; returns the exit code (never raises, never prints a traceback)."""
    try:
        return _run(argv, prog)
    except SystemExit as exc:  # argparse: --help, --version, usage errors (already printed)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else USAGE_ERROR)
    except CommandError as exc:
        _error(exc.message)
        return exc.code
    except TemplateError as exc:
        _template_error(exc)
        return TEMPLATE_ERROR
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except BrokenPipeError:  # the reader went away (`... | head -1`): nothing to say, as `cat` says nothing
        _silence_stdout()
        return 1
    except RecursionError:
        _error("the template nests too deeply for Python's stack")
        return TEMPLATE_ERROR
    except ImportError as exc:  # PyYAML, which only .yaml/.yml wildcard files need
        package = "PyYAML" if exc.name == "yaml" else exc.name
        _error(f"{package} is not installed ({exc}); install it with: python -m pip install {package}")
        return USAGE_ERROR
    except Exception as exc:  # a bug: still one line, with enough to report it
        _error(f"unexpected {type(exc).__name__}: {exc} (a bug in sd-prompt-templates; please report it)")
        return TEMPLATE_ERROR


def _run(argv: Sequence[str] | None, prog: str) -> int:
    args = _parser(prog).parse_args(argv)
    if args.command == "migrate-library":
        return _migrate_library(args)
    variables = _variables(args.var)
    wildcards = _wildcards(args.wildcards)
    text = _template_text(args.template)
    if len(text) > args.max_length:  # the engine checks it too; this says which option raises the limit
        raise CommandError(
            f"the template is {len(text)} characters long; the limit is {args.max_length}: raise --max-length",
            TEMPLATE_ERROR,
        )

    if args.command == "count":
        limits = Limits(max_template_length=args.max_length)
        count = Expansion(text, variables, wildcards, limits).count
        _write(json.dumps({"count": json_count(count), "count_text": show(count)}) if args.json else show(count))
        return 0

    limits = Limits(max_template_length=args.max_length, max_prompts=args.max_prompts)
    if args.mode == "random":
        if args.offset:
            raise CommandError("--offset is for --mode combinatorial; random mode picks each prompt by its --seed")
        n = 1 if args.count is None else args.count
        _check_prompts(n, args.max_prompts, "prompts")
    seed = fixed_seed(args.seed)
    expansion = Expansion(text, variables, wildcards, limits)
    count = expansion.count
    if args.mode == "random":
        seeds = [seed + i for i in range(n)]
        prompts = [expansion.random(s) for s in seeds]
    else:
        if args.offset and args.offset >= count:
            raise CommandError(
                f"offset {show(args.offset)} is past the last combination: the template has {show(count)}"
                + (f" (offsets 0 to {show(count - 1)})" if count > 1 else "")
            )
        remaining = count - args.offset
        n = remaining if args.count is None else min(args.count, remaining)
        _check_prompts(n, args.max_prompts, "combinations" if args.count is None else "prompts")
        prompts = expansion.combinations(args.offset, n)
        seeds = [seed + i for i in range(len(prompts))]

    if args.json:
        document = {
            "mode": args.mode,
            "count": json_count(count),
            "count_text": show(count),
            "offset": args.offset,
            "prompts": prompts,
            "seeds": seeds,
        }
        _write(json.dumps(document, ensure_ascii=False, indent=2))
    else:
        _write("\n".join(prompts) if prompts else None)
    return 0


def _migrate_library(args: argparse.Namespace) -> int:
    from sd_prompt_templates.library import StoreError, default_library_path
    from sd_prompt_templates.migrate import MigrationError, migrate_library

    source = Path(args.source).expanduser() if args.source else default_library_path(Path.cwd())
    try:
        moved = migrate_library(source, args.to, on_conflict=args.on_conflict)
    except (MigrationError, StoreError, ValueError) as exc:  # ValueError: a malformed URL, an invalid template
        raise CommandError(f"nothing was moved: {exc}") from None
    except ImportError as exc:
        raise CommandError(
            f"nothing was moved: {exc}; the PostgreSQL driver installs with: python -m pip install 'psycopg[binary]'"
        ) from None
    report = moved.report
    _write(
        f"moved {len(report.created) + len(report.replaced)} templates from {moved.source} to {moved.target}"
        f" ({len(report.created)} new, {len(report.replaced)} replaced, {len(report.skipped)} kept as they were)"
    )
    return 0


def _check_prompts(n: int, limit: int, what: str) -> None:
    if n <= limit:
        return
    if what == "combinations":
        hint = "pass --count N (and --offset K to go on later) or raise --max-prompts"
    else:
        hint = "raise --max-prompts"
    raise CommandError(f"{show(n)} {what} requested; the limit is {limit}: {hint}")


# -- output -----------------------------------------------------------------------------------------------------


def _write(text: str | None) -> None:
    if text is not None:
        sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def _template_error(exc: TemplateError) -> None:
    line = getattr(exc, "line", None)
    if line is None:  # a problem with no place in the text: a limit, a bad request
        _error(exc.message)
        return
    _error(f"line {line}, column {exc.column}: {exc.message}")
    excerpt = exc.excerpt()
    if excerpt:
        print(excerpt, file=sys.stderr)


def _silence_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so that Python's final flush does not complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
