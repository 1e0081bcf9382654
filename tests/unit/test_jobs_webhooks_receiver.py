"""Against a real receiver on 127.0.0.1: signed requests that verify, retries, no redirect followed, the
connection made to the checked address, TLS, and a deadline for a receiver that answers a byte at a time."""

from __future__ import annotations

import queue
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from sd_prompt_templates.jobs import webhooks as wh
from tests.unit.test_jobs_webhooks_fakes import (
    LOCAL,
    NOW,
    SECRET,
    WAIT,
    Clock,
    FakeJob,
    Hook,
    a_plan,
    database,
    verify,
)

# --- a real receiver on 127.0.0.1 ---------------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """An HTTP server on 127.0.0.1 that records each request and answers from a script (200 when it runs out)."""

    def __init__(self) -> None:
        self.requests: queue.Queue[Received] = queue.Queue()
        self.answers: list[tuple[int, dict[str, str]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status, headers = receiver.answers.pop(0) if receiver.answers else (200, {})
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
                receiver.requests.put(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def next(self) -> Received:
        return self.requests.get(timeout=WAIT)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_a_real_receiver_gets_signed_webhooks_that_verify(tmp_path: Path, receiver: Receiver) -> None:
    outbox = wh.WebhookOutbox(database(tmp_path / "jobs.sqlite3"))
    sender = wh.WebhookSender(outbox, settings=lambda: LOCAL)
    notifier = wh.WebhookNotifier(outbox, settings=lambda: LOCAL, sender=sender, url_prefix="/api/v9")
    sender.start()
    try:
        job = FakeJob("job42", "succeeded", a_plan(), images_done=3, webhook=Hook(receiver.url("/hook?k=1")))
        delivery = notifier.notify_status(job)
        got = receiver.next()
    finally:
        assert sender.stop(WAIT)
    assert delivery is not None and got.path == "/hook?k=1"
    event = verify(SECRET, got.body, got.headers)
    assert got.headers["webhook-id"] == delivery.id and got.headers["content-type"] == "application/json"
    assert event["type"] == "job.succeeded" and event["data"]["id"] == "job42"
    assert event["data"]["images"] == [f"/api/v9/jobs/job42/images/{n}" for n in range(3)]
    assert got.body == delivery.body.encode()
    stored = outbox.get(delivery.id)
    assert stored is not None and stored.status == "sent"  # recorded before the thread stopped


def test_a_real_receiver_failing_then_taking_it(tmp_path: Path, receiver: Receiver) -> None:
    outbox = wh.WebhookOutbox(database(tmp_path / "jobs.sqlite3"))
    clock = Clock(time.time())  # then moved to each retry's time, a few seconds on: the signatures stay fresh
    sender = wh.WebhookSender(outbox, settings=lambda: LOCAL, clock=clock)
    receiver.answers = [(500, {}), (302, {"Location": "http://169.254.169.254/"})]
    delivery = outbox.enqueue("j", "job.failed", receiver.url(), None, {"id": "j"}, clock.now)
    errors: list[str | None] = []
    for _ in range(3):
        assert sender.send_due() == 1
        stored = outbox.get(delivery.id)
        assert stored is not None
        errors.append(stored.last_error)
        clock.now = stored.next_attempt_at
    requests = [receiver.next() for _ in range(3)]
    assert receiver.requests.empty()  # the redirect was not followed
    assert errors[0] == "HTTP 500 Internal Server Error: ok" and "redirects are not followed" in (errors[1] or "")
    assert errors[2] is None
    assert {r.headers["webhook-id"] for r in requests} == {delivery.id}
    for request in requests:
        verify(SECRET, request.body, request.headers)
    done = outbox.get(delivery.id)
    assert done is not None and done.status == "sent" and done.attempts == 3


def test_the_request_goes_to_the_checked_address_not_a_new_lookup(tmp_path: Path, receiver: Receiver) -> None:
    # hooks.example.com "resolves" to 127.0.0.1 once, when checked; the connection uses that address and the
    # Host header still names the host. A second lookup would fail: the fake DNS is consulted once.
    lookups: list[str] = []

    def dns(host: str, port: int) -> list[str]:
        lookups.append(host)
        if len(lookups) > 1:
            raise OSError("looked up twice")
        return ["127.0.0.1"]

    settings = wh.WebhookSettings(secret=SECRET, allowed_hosts=("hooks.example.com",))
    outbox = wh.WebhookOutbox(database(tmp_path / "jobs.sqlite3"))
    outbox.enqueue("j", "job.succeeded", f"http://hooks.example.com:{receiver.port}/in", None, {}, time.time())
    assert wh.WebhookSender(outbox, settings=lambda: settings, resolve=dns).send_due() == 1
    got = receiver.next()
    assert lookups == ["hooks.example.com"]
    assert got.headers["host"] == f"hooks.example.com:{receiver.port}"
    verify(SECRET, got.body, got.headers)


def test_a_refused_connection_is_a_retried_failure(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = server.server_address[1]
    server.server_close()  # nothing listens there now
    outbox = wh.WebhookOutbox(database(tmp_path / "jobs.sqlite3"))
    delivery = outbox.enqueue("j", "job.succeeded", f"http://127.0.0.1:{port}/", None, {}, NOW)
    wh.WebhookSender(outbox, settings=lambda: LOCAL, clock=Clock()).send_due()
    failed = outbox.get(delivery.id)
    assert failed is not None and failed.status == "pending" and "ConnectionRefusedError" in (failed.last_error or "")


def test_https_goes_through_tls_to_the_checked_address(tmp_path: Path, receiver: Receiver) -> None:
    # the receiver speaks plain HTTP: the TLS handshake fails, and that is a failed attempt, retried
    outbox = wh.WebhookOutbox(database(tmp_path / "jobs.sqlite3"))
    delivery = outbox.enqueue("j", "job.succeeded", f"https://127.0.0.1:{receiver.port}/", None, {}, NOW)
    wh.WebhookSender(outbox, settings=lambda: LOCAL, clock=Clock()).send_due()
    failed = outbox.get(delivery.id)
    assert failed is not None and failed.status == "pending" and "SSL" in (failed.last_error or "")


def test_a_receiver_that_answers_a_byte_at_a_time_is_cut_off() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    done = threading.Event()

    def drip() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            for _ in range(400):  # each byte well within the socket timeout; all of them far beyond the deadline
                if done.wait(0.05):
                    return
                try:
                    conn.sendall(b"X")
                except OSError:
                    return  # the sender gave up: what this test is for

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    request = wh.OutgoingRequest(
        url=f"http://127.0.0.1:{port}/",
        host="127.0.0.1",
        port=port,
        addresses=("127.0.0.1",),
        body=b"{}",
        headers={"content-type": "application/json"},
        timeout=0.2,
    )
    try:
        with pytest.raises(TimeoutError, match="no complete answer"):
            wh.http_post(request)
    finally:
        done.set()
        thread.join(WAIT)
        listener.close()
