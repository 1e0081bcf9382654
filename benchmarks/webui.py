"""Generation speed and memory of POST /prompt-templates/v1/txt2img against the WebUI's own /sdapi/v1/txt2img,
side by side in one run, on a running WebUI (started with --api and this extension).

    python benchmarks/webui.py [--url http://127.0.0.1:7861] [--pid PID] [--rounds-scale 1] [--memory-requests 500]
                               [--user USER --password PASSWORD]

Standard library only: any Python 3.10+ will do. --user/--password are the WebUI's --api-auth (sent as HTTP Basic on
every request). --pid is the WebUI's process, for the memory part (its VmRSS in /proc/PID/status); without it that
part is skipped. On Linux: pgrep -f "launch.py". With the tiny random test model, start the WebUI with
--disable-nan-check: otherwise some prompts make NaNs and the WebUI refuses the request.

Each case runs for several rounds: 30 at 64x64, 8 at 256x256, 3 at 512x512, 20 for one image, all scaled by
--rounds-scale. In each round the cases run one after the other, in a rotating order. A ratio is the median over the
rounds of the two cases' times in the same round (paired, so that the machine slowing down for a while - a shared VM
does - hits both sides alike); best and median times are shown beside.

Targets (issue), at 64x64/2 steps and 256x256/10 steps, for 8 variations of one template, the request giving no
batch_size (so the extension batches them as its Settings allow):
  - ours >= 2.5x (64x64) and >= 1.5x (256x256) faster than 8 sequential /sdapi/v1/txt2img calls (the seed's way);
  - ours within 1.05x of one /sdapi/v1/txt2img call with batch_size=8 (same sampler work, no per-request overhead);
  - one image: ours <= 1.05x /sdapi/v1/txt2img's time;
  - resident memory growth over --memory-requests requests to our endpoint: < 50 MB.
And at 512x512/5 steps, where on a CPU a batch is slower than single images: ours within 1.05x of the WebUI's own
n_iter=8 run (8 images at batch_size=1), i.e. the default batching never costs time where batching does not pay.
Shown for information: the WebUI's n_iter=8 call with one prompt, ours with batch_size=1 (the caller's choice), and
ours with one prompt 8 times. That last one is exactly the batched call's work: for 8 *different* prompts the WebUI
also encodes 8 prompts instead of one (prompt_parser.get_learned_conditioning calls the text encoder once for each
distinct prompt), which no endpoint can skip and which shows at 64x64, where the whole batch takes ~0.2 s.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import statistics
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OURS = "/prompt-templates/v1/txt2img"
SDAPI = "/sdapi/v1/txt2img"
TEMPLATE = "a {red|blue} {cat|dog} {sitting|running}"  # 8 combinations
VARIATIONS = 8
SEED = 1234
# side, steps, minimum speed-up over sequential calls (None: batching does not pay there, see the docstring), rounds
SIZES = ((64, 2, 2.5, 30), (256, 10, 1.5, 8), (512, 5, None, 3))
SINGLE_ROUNDS = 20
ITERATED_MAX_RATIO = 1.05
BATCHED_MAX_RATIO = 1.05
SINGLE_MAX_RATIO = 1.05
MEMORY_MAX_GROWTH_MB = 50.0
TIMEOUT_S = 600.0


class Client:
    def __init__(self, url: str, user: str | None, password: str | None) -> None:
        self.url = url.rstrip("/")
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if user is not None:
            token = base64.b64encode(f"{user}:{password or ''}".encode()).decode("ascii")
            self.headers["Authorization"] = f"Basic {token}"

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = self.call("POST", path, body)
        return answer

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """The JSON answer (None for an empty one); a clear exit, not a traceback, when the WebUI refuses or is gone."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, headers=self.headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                raw = response.read()
                return json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:2000]
            raise SystemExit(f"{method} {path}: HTTP {exc.code}: {detail}") from None
        except urllib.error.URLError as exc:
            raise SystemExit(f"{method} {path}: cannot reach {self.url}: {exc.reason}") from None
        except (http.client.HTTPException, ConnectionError) as exc:
            raise SystemExit(f"{method} {path}: the WebUI dropped the connection (stopped?): {exc!r}") from None

    def timed(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[float, Any]:
        start = time.perf_counter()
        answer = self.call(method, path, body)
        return time.perf_counter() - start, answer


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise SystemExit(f"unexpected answer: {message}")


def info_of(response: dict[str, Any]) -> dict[str, Any]:
    return json.loads(response.get("info") or "{}")


def check_variations(response: dict[str, Any]) -> None:
    images, prompts = response.get("images") or [], response.get("prompts") or []
    expect(len(images) == VARIATIONS, f"{len(images)} images from {OURS}, expected {VARIATIONS}")
    expect(len(set(prompts)) == VARIATIONS, f"{len(set(prompts))} distinct prompts from {OURS}: {prompts}")


def check_images(response: dict[str, Any], n: int) -> None:
    images = response.get("images") or []
    expect(len(images) == n, f"{len(images)} images from {SDAPI}, expected {n}")


@dataclass(frozen=True)
class Timings:
    times: dict[str, list[float]]  # case -> its time in each round

    def best(self, case: str) -> float:
        return min(self.times[case])

    def median(self, case: str) -> float:
        return statistics.median(self.times[case])

    def ratio(self, case: str, other: str) -> float:
        """The median, over rounds, of case's time / other's time in the same round: paired, so that the machine
        getting slower or faster for a while (a shared VM does) changes both sides alike."""
        return statistics.median(a / b for a, b in zip(self.times[case], self.times[other], strict=True))


def race(cases: dict[str, Callable[[], object]], rounds: int) -> Timings:
    """Each round runs every case once, starting one further along each time."""
    names = list(cases)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(rounds):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            cases[name]()
            times[name].append(time.perf_counter() - start)
    return Timings(times)


@dataclass(frozen=True)
class Row:
    label: str
    case: str  # "" for a second target of the row above
    target: str = ""
    ok: bool | None = None  # None: no target


def verdict(ok: bool | None) -> str:
    return "" if ok is None else ("PASS" if ok else "MISS")


def variations_cases(client: Client, side: int, steps: int) -> tuple[dict[str, Callable[[], object]], str]:
    """The cases, and the batching the extension chose for ours (batch_size x n_iter)."""
    size = {"width": side, "height": side, "steps": steps}
    ours_body = {"prompt": TEMPLATE, "mode": "combinatorial", "seed": SEED, **size}
    # Warm-up (untimed), which also gives the 8 prompts and seeds the sequential calls make one by one.
    first = client.post(OURS, ours_body)
    check_variations(first)
    singles = [{"prompt": p, "seed": s, **size} for p, s in zip(first["prompts"], first["seeds"], strict=True)]
    batched_body = {"prompt": first["prompts"][0], "seed": SEED, "batch_size": VARIATIONS, **size}

    def ours() -> None:
        check_variations(client.post(OURS, ours_body))

    def ours_one_by_one() -> None:
        check_variations(client.post(OURS, {**ours_body, "batch_size": 1}))

    def ours_one_prompt() -> None:  # the batched call's very work, through our endpoint
        body = {**batched_body, "count": VARIATIONS}
        del body["batch_size"]
        response = client.post(OURS, body)
        expect(response.get("prompts") == [batched_body["prompt"]] * VARIATIONS, "8 copies of the one prompt")

    def sequential() -> None:
        for body in singles:
            check_images(client.post(SDAPI, body), 1)

    def batched() -> None:
        check_images(client.post(SDAPI, batched_body), VARIATIONS)

    def iterated() -> None:
        check_images(client.post(SDAPI, {**batched_body, "batch_size": 1, "n_iter": VARIATIONS}), VARIATIONS)

    cases = {
        "ours": ours,
        "ours_one_by_one": ours_one_by_one,
        "ours_one_prompt": ours_one_prompt,
        "sequential": sequential,
        "batched": batched,
        "iterated": iterated,
    }
    return cases, f"{first['parameters']['batch_size']}x{first['parameters']['n_iter']}"


def bench_variations(
    client: Client, side: int, steps: int, min_speedup: float | None, rounds: int
) -> tuple[Timings, list[Row]]:
    cases, batching = variations_cases(client, side, steps)
    for case in cases.values():  # warm-up, untimed
        case()
    t = race(cases, rounds)
    ours = f"ours, {VARIATIONS} variations, default: {batching}"
    if min_speedup is None:
        vs_iterated = t.ratio("ours", "iterated")
        targets = [Row(ours, "ours", f"ours/n_iter <= {ITERATED_MAX_RATIO}x", vs_iterated <= ITERATED_MAX_RATIO)]
    else:
        speedup, vs_batched = t.ratio("sequential", "ours"), t.ratio("ours", "batched")
        targets = [
            Row(ours, "ours", f"seq/ours >= {min_speedup}x", speedup >= min_speedup),
            Row("", "", f"ours/batched <= {BATCHED_MAX_RATIO}x", vs_batched <= BATCHED_MAX_RATIO),
        ]
    return t, [
        Row(f"{VARIATIONS} x {SDAPI}, sequential", "sequential"),
        Row(f"1 x {SDAPI}, batch_size={VARIATIONS}, 1 prompt", "batched"),
        # The WebUI's own loop over n_iter, without us: the floor for 8 images in one run at batch_size=1.
        Row(f"1 x {SDAPI}, n_iter={VARIATIONS}, 1 prompt", "iterated", "(reference)"),
        *targets,
        Row(f"ours, {VARIATIONS} variations, batch_size=1", "ours_one_by_one", "(caller's)"),
        # One prompt 8 times: the WebUI encodes a distinct prompt once, so this is the batched call's work exactly.
        Row(f"ours, 1 prompt x {VARIATIONS}, default batching", "ours_one_prompt", "(same work)"),
    ]


def print_variations(side: int, steps: int, rounds: int, rows: list[Row], t: Timings) -> None:
    print(f"\n{side}x{side}, {steps} steps, {VARIATIONS} images, {rounds} rounds")
    print(f"{'case':46} {'best s':>7} {'median':>7} {'seq/case':>9} {'case/batched':>13}  {'target':26} result")
    for row in rows:
        if not row.case:
            print(f"{'':46} {'':>7} {'':>7} {'':>9} {'':>13}  {row.target:26} {verdict(row.ok)}")
            continue
        times = f"{t.best(row.case):7.3f} {t.median(row.case):7.3f}"
        ratios = f"{t.ratio('sequential', row.case):8.2f}x {t.ratio(row.case, 'batched'):12.2f}x"
        print(f"{row.label:46} {times} {ratios}  {row.target:26} {verdict(row.ok)}")


def bench_single(client: Client, rounds: int) -> tuple[float, float, float]:
    """Median times of ours and /sdapi/v1/txt2img, and the paired ratio."""
    size = {"width": 64, "height": 64, "steps": 2, "seed": SEED}
    # combinatorial, count 1: the first combination, "a red cat", exactly the prompt /sdapi/v1/txt2img gets
    ours_body = {"prompt": "a {red|blue} cat", "mode": "combinatorial", "count": 1, **size}
    sdapi_body = {"prompt": "a red cat", **size}

    def ours() -> None:
        response = client.post(OURS, ours_body)
        expect(response.get("prompts") == ["a red cat"], f"prompts {response.get('prompts')}")
        expect(len(response.get("images") or []) == 1, "one image from our endpoint")

    def sdapi() -> None:
        check_images(client.post(SDAPI, sdapi_body), 1)

    cases = {"ours": ours, "sdapi": sdapi}
    for case in cases.values():
        case()
    t = race(cases, rounds)
    return t.median("ours"), t.median("sdapi"), t.ratio("ours", "sdapi")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024  # kB
    raise SystemExit(f"no VmRSS in /proc/{pid}/status")


def bench_memory(client: Client, pid: int, requests: int) -> tuple[float, float]:
    body = {"prompt": "a {red|blue|green} {cat|dog|fox}, {day|night}", "count": 1, "width": 64, "height": 64}
    before = rss_mb(pid)
    print(f"\nmemory: {requests} requests to {OURS} (64x64, 2 steps, 1 image, seed varies); RSS of pid {pid}")
    print(f"  before {before:9.1f} MB")
    step = max(requests // 5, 1)
    for i in range(requests):
        response = client.post(OURS, {**body, "steps": 2, "seed": SEED + i})
        expect(len(response.get("images") or []) == 1, "one image from our endpoint")
        if (i + 1) % step == 0 and i + 1 < requests:
            print(f"  {i + 1:6}  {rss_mb(pid):9.1f} MB")
    after = rss_mb(pid)
    print(f"  after  {after:9.1f} MB")
    return before, after


def describe(client: Client) -> str:
    info = info_of(client.post(SDAPI, {"prompt": "a red cat", "width": 64, "height": 64, "steps": 1, "seed": SEED}))
    return f"WebUI {info.get('version')}, model {info.get('sd_model_name')}, sampler {info.get('sampler_name')}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:7861", help="the WebUI (default: %(default)s)")
    parser.add_argument("--pid", type=int, help="the WebUI's process id, for the memory part (skipped without it)")
    parser.add_argument(
        "--rounds-scale", type=float, default=1.0, help="more (or fewer) rounds than the defaults (default: 1)"
    )
    parser.add_argument("--memory-requests", type=int, default=500, help="requests of the memory part (default: 500)")
    parser.add_argument("--user", help="--api-auth user name")
    parser.add_argument("--password", help="--api-auth password")
    opts = parser.parse_args()
    if opts.rounds_scale <= 0 or opts.memory_requests < 1:
        parser.error("--rounds-scale must be above 0 and --memory-requests at least 1")
    if opts.pid is not None and not Path(f"/proc/{opts.pid}/status").exists():
        parser.error(f"no process {opts.pid} (or no /proc here)")
    client = Client(opts.url, opts.user, opts.password)

    print(f"{opts.url}: {describe(client)}; Python {sys.version.split()[0]}")
    print("cases interleaved; ratios: median over rounds of the two times in one round; seq/case = sequential/case")
    misses = 0
    for side, steps, min_speedup, base_rounds in SIZES:
        rounds = max(1, round(base_rounds * opts.rounds_scale))
        t, rows = bench_variations(client, side, steps, min_speedup, rounds)
        print_variations(side, steps, rounds, rows, t)
        misses += sum(row.ok is False for row in rows)

    rounds = max(1, round(SINGLE_ROUNDS * opts.rounds_scale))
    ours, sdapi, ratio = bench_single(client, rounds)
    ok = ratio <= SINGLE_MAX_RATIO
    misses += not ok
    print(f"\n1 image, 64x64, 2 steps, {rounds} rounds (median times)")
    print(f"  {SDAPI:32} {sdapi:8.3f} s")
    print(f"  {OURS:32} {ours:8.3f} s   ours/sdapi {ratio:5.2f}x  target <= {SINGLE_MAX_RATIO}x  {verdict(ok)}")

    if opts.pid is None:
        print("\nmemory: skipped (pass --pid with the WebUI's process id to measure its resident memory)")
    else:
        before, after = bench_memory(client, opts.pid, opts.memory_requests)
        ok = after - before < MEMORY_MAX_GROWTH_MB
        misses += not ok
        print(f"  growth {after - before:9.1f} MB   target < {MEMORY_MAX_GROWTH_MB:.0f} MB  {verdict(ok)}")

    print(f"\n{'all targets met' if not misses else f'{misses} target(s) missed'}")


if __name__ == "__main__":
    main()
