"""8 variations of one template: ours (POST /prompt-templates/v1/txt2img) against sd-dynamic-prompts' fastest way
(one POST /sdapi/v1/txt2img with batch_size 8 and its Script enabled, combinatorial), on one running WebUI that has
both extensions (e.g. the harness's a1111-dp-last: the peer's folder sorts after ours, its dp_* settings saved).

    python benchmarks/dynamic_prompts.py [--url http://127.0.0.1:7876] [--user U --password P] [--rounds-scale 1]

Standard library only. At 64x64/2 steps (30 rounds) and 256x256/10 steps (8 rounds): each round runs the cases one
after the other in a rotating order; the ratio is the median over rounds of ours/theirs in the same round (paired).
Target (issue): ours is not slower, i.e. that ratio <= 1.00. Ours gets no batch_size (the extension batches as its
Settings allow); "ours batch_size=8" (the same batching as theirs) is shown for information.
The peer stays as installed (enabled by default), so it also runs during our requests: a user with both has that.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import sys
import time
import urllib.request

TEMPLATE = "a {red|blue} {cat|dog} {sitting|running}"  # 8 combinations, in both syntaxes
SEED = 1234
SIZES = ((64, 2, 30), (256, 10, 8))
MAX_RATIO = 1.00


def call(url, path, body, headers, method="POST"):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url + path, data=data, headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=900) as response:
        return json.loads(response.read())


def dp_args(title_lower):
    # the peer's ui() order: enabled, combinatorial, combinatorial batches, magic prompt, feeling lucky, attention
    # grabber, min/max attention, magic length, magic temperature, fixed seed, unlink seed, disable negative, jinja,
    # no image generation, max generations (0: every combination), magic model, magic blocklist
    args = [True, True, 1, False, False, False, 1.1, 1.5, 100, 0.7, False, False, False, False, False, 0,
            "Gustavosta/MagicPrompt-Stable-Diffusion", ""]  # fmt: skip
    return {title_lower: {"args": args}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:7876")
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--rounds-scale", type=float, default=1.0)
    a = parser.parse_args()
    url = a.url.rstrip("/")
    headers = {"Content-Type": "application/json"}
    if a.user is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{a.user}:{a.password or ''}".encode()).decode()
    scripts = call(url, "/sdapi/v1/scripts", None, headers, "GET")["txt2img"]
    dp_title = next((s for s in scripts if s.startswith("dynamic prompts")), None)
    if dp_title is None or "prompt templates" not in scripts:
        sys.exit(f"this WebUI needs both extensions; its txt2img scripts: {scripts}")
    version = call(url, "/prompt-templates/v1/version", None, headers, "GET")
    print(f"{url}: sd-prompt-templates {version.get('version')} and {dp_title}; template {TEMPLATE!r}, seed {SEED}")

    failed = False
    for side, steps, rounds in SIZES:
        size = {"steps": steps, "width": side, "height": side, "seed": SEED}
        ours = {"prompt": TEMPLATE, "mode": "combinatorial", **size}
        theirs = {"prompt": TEMPLATE, "batch_size": 8, "n_iter": 1, **size, "alwayson_scripts": dp_args(dp_title)}

        def run_ours(body=ours):
            reply = call(url, "/prompt-templates/v1/txt2img", body, headers)
            assert len(reply["images"]) == 8 and len(set(reply["prompts"])) == 8, reply.get("prompts")

        def run_theirs(theirs=theirs):
            reply = call(url, "/sdapi/v1/txt2img", theirs, headers)
            prompts = json.loads(reply["info"])["all_prompts"]
            assert len(reply["images"]) == 8 and len(set(prompts)) == 8, prompts

        cases = {"ours": run_ours, "dp batch_size=8": run_theirs,
                 "ours batch_size=8": lambda ours=ours: run_ours({**ours, "batch_size": 8})}  # fmt: skip
        for run in cases.values():  # warm-up, and the checks
            run()
        times = {name: [] for name in cases}
        names = list(cases)
        for r in range(max(1, round(rounds * a.rounds_scale))):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                t0 = time.perf_counter()
                cases[name]()
                times[name].append(time.perf_counter() - t0)
        print(f"\n{side}x{side}, {steps} steps, 8 images, {len(times['ours'])} rounds")
        for name, ts in times.items():
            print(f"  {name:<18} best {min(ts):7.3f} s   median {statistics.median(ts):7.3f} s")
        for name in ("ours", "ours batch_size=8"):
            ratio = statistics.median(o / t for o, t in zip(times[name], times["dp batch_size=8"], strict=True))
            verdict = "" if name != "ours" else ("  OK" if ratio <= MAX_RATIO else f"  SLOWER (target <= {MAX_RATIO})")
            failed |= name == "ours" and ratio > MAX_RATIO
            print(f"  {name} / dp batch_size=8: median ratio {ratio:.3f}{verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
