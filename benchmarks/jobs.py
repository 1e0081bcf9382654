"""The jobs queue against plain requests, side by side in one run, on a running WebUI (started with --api and this
extension; nothing else using it meanwhile).

    python benchmarks/jobs.py [--url http://127.0.0.1:7861] [--user U --password P] [--jobs 20] [--rounds 4]
                              [--size 256] [--steps 8] [--warmup 1] [--queued 1000] [--stored 10000] [--parts 1234]

Standard library only. Parts, with the issue's targets:
  1. throughput: --jobs jobs of 8 images (--size x --size, --steps steps: 256x256, 8 steps unless told) through
     POST /jobs, against the same requests to POST /txt2img one after another; after --warmup untimed jobs and
     requests (the WebUI's first runs are slower), rounds alternate the two, the side that goes first changing each
     round (jobs then requests, requests then jobs, ...), and the ratio is requests' time / jobs' time summed over
     the rounds: >= 0.97 (the queue costs at most 3 %). Each round's times are shown too, the median of the
     rounds' ratios, to show the noise, and what the queue costs a job in milliseconds (jobs' time - requests'
     time, over the jobs). The size: on a CPU with the harnesses' tiny model, 256x256 / 8 steps makes 8 images in
     about 3 s, as a GPU makes a real job's (512x512, 20 steps and more); at 64x64 / 2 steps a job takes 0.15 s,
     and the queue's fixed cost per job (a few ms: the submit, two transactions, the files) weighs 20 times more
     than it does for a real job (--size 64 --steps 2 shows it);
  2. the gap between one job's last image and the next job's start (its claim by the worker), median < 50 ms;
  3. submit latency with --queued jobs waiting: p50, and p99 < 20 ms;
  4. GET /jobs and GET /jobs/{id} with --stored jobs in the store: p99 < 50 ms.
With --database-url URL (a PostgreSQL server) it runs benchmarks/shared_workers.py instead, with the same arguments:
the queue on a database several WebUIs share (claim latency and overhead against SQLite, N worker processes).
--parts picks the parts to run (e.g. 12: the throughput and the gaps only). Parts 3 and 4 leave --stored cancelled
jobs behind in the store (Settings' retention prunes them; or delete the WebUI's prompt-templates/jobs*.sqlite3 files
while it is stopped). Part 3 needs "Jobs: most jobs waiting at once" (Settings) of at least --queued + 200.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

from webui import Client  # benchmarks/webui.py: run as a script, this folder is on the path

PREFIX = "/prompt-templates/v1"
TEMPLATE = "a {red|blue} {cat|dog} {sitting|running}"  # 8 combinations: 8 images
TINY = {"prompt": "queued", "steps": 1, "width": 64, "height": 64}
THROUGHPUT_MIN = 0.97
GAP_MAX_MS = 50.0
SUBMIT_P99_MAX_MS = 20.0
READ_P99_MAX_MS = 50.0
TIMEOUT_S = 600.0


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def wait_last(client: Client, ids: list[str]) -> None:
    """Until every job finished: the worker runs them in order, so this follows the last one's events (Server-Sent
    Events: no polling, which would load the WebUI it measures)."""
    request = urllib.request.Request(f"{client.url}{PREFIX}/jobs/{ids[-1]}/events", headers=client.headers)
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as stream:
        for line in stream:
            if line.startswith(b"data: ") and json.loads(line[6:])["status"] not in ("queued", "running"):
                break


def read_all(client: Client, ids: list[str]) -> list[dict[str, Any]]:
    jobs = [client.call("GET", f"{PREFIX}/jobs/{job_id}") for job_id in ids]
    for job in jobs:
        if job["status"] != "succeeded":
            raise SystemExit(f"job {job['id']} {job['status']}: {job.get('error')}")
    return jobs


def wait_idle(client: Client) -> None:
    """Until no job is queued or running (another part's, or someone else's)."""
    while any(client.call("GET", f"{PREFIX}/jobs?status={status}&limit=1")["jobs"] for status in ("queued", "running")):
        time.sleep(0.2)


def body(size: int, steps: int) -> dict[str, Any]:
    return {"prompt": TEMPLATE, "mode": "combinatorial", "steps": steps, "width": size, "height": size, "seed": 1234}


def job_round(client: Client, n: int, request: dict[str, Any]) -> tuple[float, list[dict[str, Any]]]:
    """n jobs submitted one after another, until the last one ended; its time, and the jobs (checked, not timed)."""
    wait_idle(client)
    start = time.perf_counter()
    ids = [client.call("POST", f"{PREFIX}/jobs", request)["id"] for _ in range(n)]
    wait_last(client, ids)
    elapsed = time.perf_counter() - start
    return elapsed, read_all(client, ids)


def request_round(client: Client, n: int, request: dict[str, Any]) -> float:
    start = time.perf_counter()
    for _ in range(n):
        answer = client.call("POST", f"{PREFIX}/txt2img", request)
        if len(answer["images"]) != 8:
            raise SystemExit(f"/txt2img made {len(answer['images'])} images, expected 8")
    return time.perf_counter() - start


def throughput(
    client: Client, jobs: int, rounds: int, request: dict[str, Any], warmup: int
) -> tuple[list[float], list[float], list[dict[str, Any]]]:
    """Each round's time of the requests and of the jobs, and the jobs."""
    per_round = max(1, jobs // rounds)
    if warmup:  # untimed: the WebUI's first runs (and the worker's first job) are slower
        job_round(client, warmup, request)
        request_round(client, warmup, request)
    requests_times: list[float] = []
    jobs_times: list[float] = []
    finished: list[dict[str, Any]] = []
    for i in range(rounds):
        if i % 2:  # requests first every other round: a drift of the machine's speed hits both sides alike
            requests_times.append(request_round(client, per_round, request))
        elapsed, done = job_round(client, per_round, request)
        jobs_times.append(elapsed)
        finished += done
        if not i % 2:
            requests_times.append(request_round(client, per_round, request))
    return requests_times, jobs_times, finished


def gaps_ms(finished: list[dict[str, Any]]) -> list[float]:
    """Between each job's end and the start of the job after it, where it was already waiting then."""
    ordered = sorted(finished, key=lambda j: epoch(j["started_at"]))
    return [
        (epoch(b["started_at"]) - epoch(a["finished_at"])) * 1000
        for a, b in pairwise(ordered)
        if epoch(b["created_at"]) < epoch(a["finished_at"])  # queued before the first ended: no idle time between
    ]


def fill(client: Client, n: int) -> list[str]:
    return [client.call("POST", f"{PREFIX}/jobs", TINY)["id"] for _ in range(n)]


def cancel(client: Client, ids: list[str]) -> None:
    for job_id in ids:
        client.call("DELETE", f"{PREFIX}/jobs/{job_id}")


def submit_latency(client: Client, queued: int) -> list[float]:
    ids = fill(client, queued)
    times = []
    for _ in range(200):
        elapsed, job = client.timed("POST", f"{PREFIX}/jobs", TINY)
        times.append(elapsed * 1000)
        ids.append(job["id"])
    cancel(client, ids)
    return times


def read_latency(client: Client, stored: int, chunk: int) -> tuple[list[float], list[float]]:
    listed = client.call("GET", f"{PREFIX}/jobs?limit=500")["jobs"]
    have, cursor = len(listed), None
    while have < stored:  # count what is there, a page at a time
        page = client.call("GET", f"{PREFIX}/jobs?limit=500" + (f"&cursor={cursor}" if cursor else ""))
        cursor = page["next_cursor"]
        if not cursor:
            break
        have += len(page["jobs"])
    while have < stored:
        ids = fill(client, min(chunk, stored - have))
        cancel(client, ids)
        have += len(ids)
    some = client.call("GET", f"{PREFIX}/jobs?limit=50")["jobs"][-1]["id"]
    lists = [client.timed("GET", f"{PREFIX}/jobs?limit=50")[0] * 1000 for _ in range(200)]
    gets = [client.timed("GET", f"{PREFIX}/jobs/{some}")[0] * 1000 for _ in range(200)]
    return lists, gets


def main() -> None:
    if any(arg.split("=", 1)[0] == "--database-url" for arg in sys.argv[1:]):  # several WebUIs, one database
        shared = Path(__file__).with_name("shared_workers.py")
        os.execv(sys.executable, [sys.executable, str(shared), *sys.argv[1:]])
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:7861")
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--jobs", type=int, default=20, help="jobs (and requests) of part 1 (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=4, help="rounds part 1 alternates in (default: %(default)s)")
    parser.add_argument("--size", type=int, default=256, help="part 1's image width and height (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=8, help="part 1's sampling steps (default: %(default)s)")
    parser.add_argument(
        "--warmup", type=int, default=1, help="untimed jobs and requests before part 1's rounds (default: %(default)s)"
    )
    parser.add_argument("--queued", type=int, default=1000, help="jobs waiting in part 3 (default: %(default)s)")
    parser.add_argument("--stored", type=int, default=10000, help="jobs in the store in part 4 (default: %(default)s)")
    parser.add_argument("--parts", default="1234", help="the parts to run, e.g. 12 (default: %(default)s)")
    opts = parser.parse_args()
    if min(opts.jobs, opts.rounds, opts.queued, opts.stored, opts.size, opts.steps) < 1 or opts.jobs < opts.rounds:
        parser.error("every count must be at least 1, and --jobs at least --rounds")
    if opts.warmup < 0 or not opts.parts or set(opts.parts) - set("1234"):
        parser.error("--warmup must be at least 0, and --parts made of 1, 2, 3 and 4")
    client = Client(opts.url, opts.user, opts.password)
    version = client.call("GET", f"{PREFIX}/version")
    print(f"{opts.url}: Prompt Templates {version.get('version')}; Python {sys.version.split()[0]}")
    misses = 0

    finished: list[dict[str, Any]] = []
    if "1" in opts.parts or "2" in opts.parts:
        request = body(opts.size, opts.steps)
        requests_times, jobs_times, finished = throughput(client, opts.jobs, opts.rounds, request, opts.warmup)
    if "1" in opts.parts:
        requests_time, jobs_time = sum(requests_times), sum(jobs_times)
        ratio = requests_time / jobs_time
        misses += ratio < THROUGHPUT_MIN
        print(f"\n1. {len(finished)} jobs of 8 images ({opts.size}x{opts.size}, {opts.steps} steps) vs as many "
              f"POST /txt2img, {opts.rounds} rounds after {opts.warmup} of each untimed")  # fmt: skip
        print(f"   /txt2img one after another {requests_time:8.2f} s")
        print(f"   through the queue          {jobs_time:8.2f} s   throughput jobs/requests {ratio:5.3f}x"
              f"  target >= {THROUGHPUT_MIN}  {verdict(ratio >= THROUGHPUT_MIN)}")  # fmt: skip
        rounds = "  ".join(f"{r:.2f}/{j:.2f}" for r, j in zip(requests_times, jobs_times, strict=True))
        paired = statistics.median(r / j for r, j in zip(requests_times, jobs_times, strict=True))
        print(f"   rounds, requests/jobs s: {rounds}; median of the rounds' ratios {paired:5.3f}x")
        per_job = (jobs_time - requests_time) / len(finished) * 1000
        print(f"   the queue's cost a job: {per_job:+.1f} ms of {jobs_time / len(finished) * 1000:.0f} ms")

    gaps = gaps_ms(finished)
    if gaps and "2" in opts.parts:
        gap = statistics.median(gaps)
        misses += gap >= GAP_MAX_MS
        print(f"\n2. gap from a job's end to the next job's start: median {gap:6.1f} ms, max {max(gaps):6.1f} ms "
              f"({len(gaps)} gaps)  target < {GAP_MAX_MS:.0f} ms  {verdict(gap < GAP_MAX_MS)}")  # fmt: skip

    if "3" in opts.parts:
        times = submit_latency(client, opts.queued)
        p50, p99 = percentile(times, 50), percentile(times, 99)
        misses += p99 >= SUBMIT_P99_MAX_MS
        print(f"\n3. POST /jobs with {opts.queued} waiting: p50 {p50:6.1f} ms, p99 {p99:6.1f} ms"
              f"  target p99 < {SUBMIT_P99_MAX_MS:.0f} ms  {verdict(p99 < SUBMIT_P99_MAX_MS)}")  # fmt: skip

    if "4" in opts.parts:
        lists, gets = read_latency(client, opts.stored, max(1, min(opts.queued, 900)))
        for name, values in (("GET /jobs?limit=50", lists), ("GET /jobs/{id}", gets)):
            p50, p99 = percentile(values, 50), percentile(values, 99)
            misses += p99 >= READ_P99_MAX_MS
            print(f"4. {name:20} with >= {opts.stored} stored: p50 {p50:6.1f} ms, p99 {p99:6.1f} ms"
                  f"  target p99 < {READ_P99_MAX_MS:.0f} ms  {verdict(p99 < READ_P99_MAX_MS)}")  # fmt: skip

    print(f"\n{'all targets met' if not misses else f'{misses} target(s) missed'}")


if __name__ == "__main__":
    main()
