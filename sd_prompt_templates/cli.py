"""`python -m sd_prompt_templates`: try the template language without a WebUI."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from sd_prompt_templates import __version__
from sd_prompt_templates.engine import MODES, Expansion, Limits, TemplateError, render
from sd_prompt_templates.wildcards import WildcardLibrary


def _template_text(arg: str) -> str:
    if arg == "-":
        return sys.stdin.read()
    if arg.startswith("@"):
        return Path(arg[1:]).read_text(encoding="utf-8")
    return arg


def _variables(pairs: Sequence[str]) -> dict[str, str]:
    values = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"error: --var takes NAME=VALUE, got {pair!r}")
        values[name] = value
    return values


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sd_prompt_templates",
        description="Expand prompt templates: variants {a|b}, wildcards __name__, variables ${name}.",
    )
    parser.add_argument("--version", action="version", version=f"sd-prompt-templates {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("template", help="template text, @FILE to read it from a file, or - for standard input")
        p.add_argument("--var", action="append", default=[], metavar="NAME=VALUE", help="a variable (repeatable)")
        p.add_argument("--wildcards", action="append", default=[], metavar="DIR", help="a wildcard folder (repeatable)")
        p.add_argument("--json", action="store_true", help="print JSON instead of text")

    render_cmd = commands.add_parser("render", help="print expanded prompts, one a line")
    common(render_cmd)
    render_cmd.add_argument("--mode", choices=MODES, default="random")
    render_cmd.add_argument(
        "--count",
        type=int,
        default=None,
        metavar="N",
        help="how many prompts (random: default 1; combinatorial: default all that remain)",
    )
    render_cmd.add_argument("--seed", type=int, default=None, metavar="S", help="seed of the first prompt (random)")
    render_cmd.add_argument("--offset", type=int, default=0, metavar="K", help="first combination (combinatorial)")
    render_cmd.add_argument("--max-prompts", type=int, default=10_000, metavar="N", help="refuse more than N prompts")

    count_cmd = commands.add_parser("count", help="print the number of combinations")
    common(count_cmd)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    text = _template_text(args.template)
    wildcards = WildcardLibrary(args.wildcards, rescan_interval=float("inf")) if args.wildcards else None
    try:
        variables = _variables(args.var)
        if args.command == "count":
            count = Expansion(text, variables, wildcards).count
            print(json.dumps({"count": count}) if args.json else count)
            return 0
        n = args.count if args.count is not None or args.mode == "combinatorial" else 1
        result = render(
            text,
            variables=variables,
            wildcards=wildcards,
            mode=args.mode,
            n=n,
            seed=args.seed,
            offset=args.offset,
            limits=Limits(max_prompts=max(args.max_prompts, 1)),
        )
    except TemplateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if exc.excerpt():
            print(exc.excerpt(), file=sys.stderr)
        return 1
    if args.json:
        print(
            json.dumps(
                {
                    "mode": result.mode,
                    "count": result.count,
                    "offset": result.offset,
                    "prompts": result.prompts,
                    "seeds": result.seeds,
                },
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        for prompt in result.prompts:
            print(prompt)
    return 0
