"""Child processes for the shared-database tests and benchmark: worker processes (tests/shared/worker.py) and library
editors (tests/shared/editor.py), started with the running Python from the repository's root, so that SIGKILL is a
real process dying. Their output goes to a file (never a pipe nobody reads, which would block them once full).
Whoever starts them stops them: `Workers.stop_all` and `Child.kill` in a `finally` or a fixture's teardown."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

from tests.shared.worker import READY

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0  # seconds for a child to say READY (imports, then the database): a guard only
STOP_TIMEOUT = 20.0  # seconds a child has to stop after SIGTERM before it is killed

T = TypeVar("T")


def wait_until(what: str, check: Callable[[], T | None], timeout: float, every: float = 0.05) -> T:
    """`check()`'s first truthy value, polled every `every` seconds; fails the test with `what` after `timeout`
    (a guard, never reached when all is well)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


@dataclass
class Child:
    """A child process whose stdout and stderr go to `output`."""

    name: str
    process: subprocess.Popen[bytes]
    output: Path
    _stdin: IO[bytes] | None = field(default=None, repr=False)

    @classmethod
    def spawn(
        cls, name: str, args: Sequence[str], output: Path, *, stdin: bool = False, env: Mapping[str, str] | None = None
    ) -> Child:
        output.parent.mkdir(parents=True, exist_ok=True)
        with output.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, *args],
                cwd=ROOT,
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            )
        return cls(name, process, output, process.stdin)

    @property
    def pid(self) -> int:
        return self.process.pid

    def text(self) -> str:
        return self.output.read_text(encoding="utf-8", errors="replace")

    def wait_for_line(self, line: str, timeout: float = START_TIMEOUT) -> None:
        """Until the child has printed `line` (on a line of its own); fails if it exits first."""

        def said() -> bool:
            if line in self.text().splitlines():
                return True
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited ({self.process.returncode}) before {line}:\n{self.text()}")
            return False

        wait_until(f"{self.name} to print {line}", said, timeout)

    def send(self, text: str) -> None:
        assert self._stdin is not None, f"{self.name} was started without a stdin"
        self._stdin.write(text.encode())
        self._stdin.flush()

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} did not end within {timeout:.0f} s:\n{self.text()}") from None

    def kill(self) -> None:
        """SIGKILL, and reap it: the process is gone when this returns."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self._close_stdin()

    def terminate(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM and wait for a clean stop; SIGKILL if it takes longer than `timeout`. Its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._close_stdin()
        return self.process.returncode

    def _close_stdin(self) -> None:
        if self._stdin is not None:
            with contextlib.suppress(OSError):
                self._stdin.close()
            self._stdin = None


@dataclass
class Workers:
    """Worker processes on one database, each with its folder `base/NAME` (its images' copies, its logs)."""

    database_url: str
    base: Path
    children: dict[str, Child] = field(default_factory=dict)

    def folder(self, name: str) -> Path:
        return self.base / name

    def spawn(self, name: str, **options: Any) -> Child:
        """Start worker `name`; options are the worker's (seconds_per_image=0.3, cannot_run_checkpoint=[...], ...)."""
        assert name not in self.children, f"worker {name} was started already"
        args = ["-m", "tests.shared.worker", "--database-url", self.database_url]
        args += ["--root", str(self.folder(name)), "--name", name]
        for key, value in options.items():
            flag = "--" + key.replace("_", "-")
            for item in value if isinstance(value, (list, tuple)) else [value]:
                args += [flag, str(item)]
        # its connections carry its name (application_name), so a test can see what each worker holds on the server
        child = Child.spawn(name, args, self.folder(name) / f"{name}.out", env={"PGAPPNAME": name})
        self.children[name] = child
        return child

    def start(self, names: Iterable[str], **options: Any) -> list[Child]:
        """Start workers side by side, and wait until each is READY."""
        started = [self.spawn(name, **options) for name in names]
        for child in started:
            child.wait_for_line(READY)
        return started

    def kill(self, name: str) -> None:
        self.children[name].kill()

    def pause(self, name: str) -> None:
        """SIGSTOP: the worker stalls, every thread of it (a long pause, a machine cut off), until `resume`."""
        self.children[name].process.send_signal(signal.SIGSTOP)

    def pause_inside_a_write(self, name: str, tries: int = 100) -> None:
        """SIGSTOP worker `name` while it holds the database's write lock (a store's advisory lock, taken inside a
        write transaction: its heartbeats take it several times a second), as a machine frozen mid-write would."""
        import psycopg

        holding = (
            "SELECT count(*) FROM pg_locks JOIN pg_stat_activity USING (pid)"
            " WHERE application_name = %s AND locktype = 'advisory' AND granted"
        )
        with psycopg.connect(self.database_url, autocommit=True) as conn:

            def holds() -> bool:
                return bool(conn.execute(holding, (name,)).fetchone()[0])  # type: ignore[index]

            for _ in range(tries):
                wait_until(f"{name} to hold the write lock", holds, timeout=10, every=0.001)
                self.pause(name)
                if holds():
                    time.sleep(0.05)  # a COMMIT it sent just before it stopped is done by now
                    if holds():
                        return
                self.resume(name)  # it committed before it stopped: again
        raise AssertionError(f"{name} could not be stopped inside a write in {tries} tries")

    def resume(self, name: str) -> None:
        self.children[name].process.send_signal(signal.SIGCONT)

    def stop_all(self) -> None:
        """SIGTERM every worker still running, at once, then wait for each (SIGKILL if one hangs)."""
        for child in self.children.values():
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGCONT)  # a paused one could not stop
                child.process.send_signal(signal.SIGTERM)
        for child in self.children.values():
            child.terminate()

    def log(self, name: str) -> list[str]:
        """Worker `name`'s images, one "job_id idx seed" line each, in the order it made them."""
        return _lines(self.folder(name) / f"{name}.log")

    def events(self, name: str) -> list[str]:
        """Worker `name`'s interrupts, one "interrupted TASK_ID at IDX" line each."""
        return _lines(self.folder(name) / f"{name}.events")

    def images_made(self) -> Counter[tuple[str, int, int]]:
        """Every image the workers' fake generators made: (job id, index, seed), and how many times."""
        made: Counter[tuple[str, int, int]] = Counter()
        for name in self.children:
            for line in self.log(name):
                job_id, idx, seed = line.split()
                made[(job_id, int(idx), int(seed))] += 1
        return made

    def report(self, tail: int = 15) -> str:
        """What each worker's connections are doing on the server, and the end of each worker's output: for a test's
        failure message, when a worker did not do what was waited for."""
        import psycopg

        activity = (
            "SELECT application_name, pid, state, wait_event_type, wait_event,"
            " round(extract(epoch FROM now() - xact_start)::numeric, 1), left(query, 80)"
            " FROM pg_stat_activity WHERE datname = current_database() ORDER BY application_name, pid"
        )
        try:
            with psycopg.connect(self.database_url, autocommit=True, connect_timeout=5) as conn:
                rows = [" | ".join(map(str, row)) for row in conn.execute(activity).fetchall()]
        except psycopg.Error as exc:
            rows = [f"(pg_stat_activity could not be read: {exc})"]
        parts = ["connections (app | pid | state | wait | event | transaction age s | query):", *rows]
        for name, child in self.children.items():
            parts += [f"--- {name} (exit code {child.process.poll()}), last lines:", *child.text().splitlines()[-tail:]]
        return "\n".join(parts)

    def errors(self) -> list[str]:
        """The lines where a worker logged an error or a traceback."""
        return [
            f"{name}: {line}"
            for name, child in self.children.items()
            for line in child.text().splitlines()
            if line.startswith(("ERROR", "CRITICAL", "Traceback"))
        ]


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []
