"""One WebUI editing the template library, as a process of its own: read-modify-write updates of one template, each
checked against the version it read, retried when another process got there first.

    python -m tests.shared.editor --target PATH_OR_URL --template NAME --updates N --who NAME

It opens the library, prints READY, waits for a line on stdin (so that every editor starts at once), then makes N
updates: each reads the template, finds "counter=K" in its description, and writes "counter=K+1" with
`expected_version` (on StaleVersion it reads again). It prints one JSON line: the counter values it wrote and how
many times it had to retry.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence

from sd_prompt_templates.library.store import StaleVersion, TemplateStore
from tests.shared.worker import READY

COUNTER = re.compile(r"counter=(\d+)")


def counter_of(description: str) -> int:
    found = COUNTER.search(description)
    if found is None:
        raise ValueError(f"no counter in {description!r}")
    return int(found[1])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", required=True, help="the library: a SQLite file or a database URL")
    parser.add_argument("--template", required=True)
    parser.add_argument("--updates", type=int, required=True)
    parser.add_argument("--who", required=True)
    opts = parser.parse_args(argv)
    store = TemplateStore(opts.target)
    print(READY, flush=True)
    sys.stdin.readline()
    written: list[int] = []
    retries = 0
    while len(written) < opts.updates:
        record = store.get(opts.template)
        value = counter_of(record.description) + 1
        draft = {**record.draft().as_dict(), "description": f"edited by {opts.who}: counter={value}"}
        try:
            store.update(opts.template, draft, expected_version=record.version)
        except StaleVersion:
            retries += 1
            continue
        written.append(value)
    store.database.dispose()
    print(json.dumps({"who": opts.who, "written": written, "retries": retries}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
