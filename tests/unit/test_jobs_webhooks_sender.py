"""The sender with a fake post and a fake clock: retries with backoff under one id, Retry-After, 410, the URL
checked again at each attempt (DNS rebinding included); and its thread."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import pytest

from sd_prompt_templates.jobs import webhooks as wh
from tests.unit.test_jobs_webhooks_fakes import (
    NOW,
    OPEN,
    PUBLIC,
    SECRET,
    WAIT,
    Clock,
    Posts,
    database,
    fake_dns,
    sender_for,
)


@pytest.fixture
def outbox(tmp_path: Path) -> wh.WebhookOutbox:
    return wh.WebhookOutbox(database(tmp_path / "jobs.sqlite3"))


def test_a_failed_attempt_is_retried_with_backoff_under_the_same_id(outbox: wh.WebhookOutbox) -> None:
    clock, posts = Clock(), Posts([wh.Response(500, "Internal Server Error", detail="boom"), OSError("refused")])
    sender = sender_for(outbox, posts, clock)
    delivery = outbox.enqueue("j", "job.succeeded", f"http://{PUBLIC}/hook", None, {"id": "j"}, NOW)

    assert sender.send_due() == 1
    after_one = outbox.get(delivery.id)
    assert after_one is not None and after_one.status == "pending" and after_one.attempts == 1
    assert after_one.last_error == "HTTP 500 Internal Server Error: boom"
    assert NOW + 5 * 0.9 <= after_one.next_attempt_at <= NOW + 5 * 1.1
    assert sender.send_due() == 0  # not due yet

    clock.now = after_one.next_attempt_at
    assert sender.send_due() == 1
    after_two = outbox.get(delivery.id)
    assert after_two is not None and after_two.attempts == 2 and after_two.last_error == "OSError: refused"
    assert clock.now + 30 * 0.9 <= after_two.next_attempt_at <= clock.now + 30 * 1.1

    clock.now = after_two.next_attempt_at
    assert sender.send_due() == 1
    done = outbox.get(delivery.id)
    assert done is not None and (done.status, done.attempts, done.sent_at) == ("sent", 3, clock.now)

    assert {r.headers["webhook-id"] for r in posts.requests} == {delivery.id}  # one id across retries
    assert {r.body for r in posts.requests} == {delivery.body.encode()}
    assert [r.headers["webhook-timestamp"] for r in posts.requests] == [
        str(int(NOW)),
        str(int(after_one.next_attempt_at)),
        str(int(after_two.next_attempt_at)),
    ]  # each attempt is signed at its own time
    assert all(r.addresses == (PUBLIC,) and r.timeout == OPEN.timeout for r in posts.requests)


def test_the_retry_schedule() -> None:
    assert [wh.retry_delay(n) for n in range(1, 12)] == [5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800, 28800, 28800]


def test_after_max_attempts_the_delivery_fails_with_its_last_error_and_says_so(
    outbox: wh.WebhookOutbox, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    posts = Posts([wh.Response(503, "Unavailable"), wh.Response(502, "Bad Gateway"), wh.Response(404, "Not Found")])
    settings = wh.WebhookSettings(secret=SECRET, max_attempts=3)
    sender = sender_for(outbox, posts, clock, settings, jitter=lambda: 0.0)
    delivery = outbox.enqueue("j", "job.failed", f"http://{PUBLIC}/hook?token=s3cret", None, {}, NOW)
    with caplog.at_level(logging.WARNING, logger=wh.__name__):
        for _ in range(3):
            assert sender.send_due() == 1
            clock.now += 100_000
    failed = outbox.get(delivery.id)
    assert failed is not None and (failed.status, failed.attempts, failed.last_error) == (
        "failed",
        3,
        "HTTP 404 Not Found",
    )
    assert sender.send_due() == 0 and len(posts.requests) == 3
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and delivery.id in errors[0].getMessage() and "HTTP 404" in errors[0].getMessage()
    assert sum(r.levelno == logging.WARNING for r in caplog.records) == 2
    assert all("s3cret" not in r.getMessage() for r in caplog.records)  # the query may hold a token


def test_410_gone_stops_at_once(outbox: wh.WebhookOutbox) -> None:
    sender = sender_for(outbox, Posts([wh.Response(410, "Gone")]), Clock())
    delivery = outbox.enqueue("j", "job.failed", f"http://{PUBLIC}/hook", None, {}, NOW)
    sender.send_due()
    gone = outbox.get(delivery.id)
    assert gone is not None and gone.status == "failed" and gone.attempts == 1 and "410" in (gone.last_error or "")


def test_a_longer_retry_after_is_honoured(outbox: wh.WebhookOutbox) -> None:
    sender = sender_for(outbox, Posts([wh.Response(429, "Too Many", retry_after=900)]), Clock(), jitter=lambda: 0.0)
    delivery = outbox.enqueue("j", "job.failed", f"http://{PUBLIC}/hook", None, {}, NOW)
    sender.send_due()
    later = outbox.get(delivery.id)
    assert later is not None and later.next_attempt_at == NOW + 900


def test_parse_retry_after() -> None:
    assert wh.parse_retry_after("120", NOW) == 120
    assert wh.parse_retry_after("Tue, 14 Nov 2023 22:15:20 GMT", NOW) == 120
    assert wh.parse_retry_after("soon", NOW) is None and wh.parse_retry_after(None, NOW) is None


def test_the_url_is_checked_again_when_sent_dns_rebinding_included(outbox: wh.WebhookOutbox) -> None:
    answers = {"hooks.example.com": [PUBLIC]}
    dns = fake_dns(answers)
    assert wh.check_webhook_url("https://hooks.example.com/x", OPEN, resolve=dns) is None  # at submit
    delivery = outbox.enqueue("j", "job.succeeded", "https://hooks.example.com/x", None, {}, NOW)
    answers["hooks.example.com"] = ["169.254.169.254"]  # then the name moves inside
    posts = Posts()
    sender_for(outbox, posts, Clock(), resolve=dns).send_due()
    refused = outbox.get(delivery.id)
    assert posts.requests == []
    assert refused is not None and refused.status == "failed" and "169.254.169.254" in (refused.last_error or "")


def test_a_narrowed_allow_list_applies_to_pending_deliveries(outbox: wh.WebhookOutbox) -> None:
    delivery = outbox.enqueue("j", "job.succeeded", f"http://{PUBLIC}/x", None, {}, NOW)
    posts = Posts()
    narrowed = wh.WebhookSettings(secret=SECRET, allowed_hosts=("hooks.example.com",))
    sender_for(outbox, posts, Clock(), narrowed).send_due()
    refused = outbox.get(delivery.id)
    assert posts.requests == [] and refused is not None and refused.status == "failed"
    assert "not in the webhook allow-list" in (refused.last_error or "")


def test_a_lookup_failure_at_send_time_is_retried(outbox: wh.WebhookOutbox) -> None:
    delivery = outbox.enqueue("j", "job.succeeded", "https://hooks.example.com/x", None, {}, NOW)
    sender_for(outbox, Posts(), Clock(), resolve=fake_dns({})).send_due()
    retried = outbox.get(delivery.id)
    assert retried is not None and retried.status == "pending" and "cannot resolve" in (retried.last_error or "")


def test_without_any_secret_at_send_time_the_delivery_fails_with_the_reason(outbox: wh.WebhookOutbox) -> None:
    delivery = outbox.enqueue("j", "job.succeeded", f"http://{PUBLIC}/x", None, {}, NOW)
    posts = Posts()
    sender_for(outbox, posts, Clock(), wh.WebhookSettings()).send_due()
    failed = outbox.get(delivery.id)
    assert posts.requests == [] and failed is not None and failed.status == "failed"
    assert "no signing secret" in (failed.last_error or "")


def test_the_delivery_own_secret_wins_over_the_default(outbox: wh.WebhookOutbox) -> None:
    own = wh.new_secret()
    outbox.enqueue("j", "job.succeeded", f"http://{PUBLIC}/x", own, {"n": 1}, NOW)
    outbox.enqueue("j", "job.failed", f"http://{PUBLIC}/x", None, {"n": 2}, NOW)
    posts = Posts()
    sender_for(outbox, posts, Clock(NOW)).send_due()
    by_event = {json.loads(r.body)["type"]: r for r in posts.requests}
    assert by_event["job.succeeded"].headers["webhook-signature"] == wh.sign(
        own, by_event["job.succeeded"].headers["webhook-id"], int(NOW), by_event["job.succeeded"].body.decode()
    )
    assert by_event["job.failed"].headers["webhook-signature"] == wh.sign(
        SECRET, by_event["job.failed"].headers["webhook-id"], int(NOW), by_event["job.failed"].body.decode()
    )


# --- the thread ----------------------------------------------------------------------------------------------------


def test_start_and_stop_are_safe_twice(outbox: wh.WebhookOutbox) -> None:
    sender = wh.WebhookSender(outbox, settings=lambda: OPEN, post=Posts())
    assert sender.stop(WAIT)  # never started
    sender.start()
    thread = sender._thread
    sender.start()
    assert sender._thread is thread and sender.running
    assert sender.stop(WAIT) and sender.stop(WAIT)
    assert not sender.running and thread is not None and thread.daemon and thread.name.endswith("webhooks")


def test_wake_sends_at_once_from_the_senders_own_thread(outbox: wh.WebhookOutbox) -> None:
    sent = threading.Event()
    threads: list[str] = []

    def post(request: wh.OutgoingRequest) -> wh.Response:
        threads.append(threading.current_thread().name)
        sent.set()
        return wh.Response(204)

    sender = wh.WebhookSender(outbox, settings=lambda: OPEN, post=post)
    sender.start()
    try:
        outbox.enqueue("j", "job.succeeded", f"http://{PUBLIC}/x", None, {}, time.time())
        sender.wake()
        assert sent.wait(WAIT)
    finally:
        assert sender.stop(WAIT)
    assert threads == ["prompt-templates-webhooks"]


def test_the_loop_survives_an_unexpected_error_and_logs_it(
    outbox: wh.WebhookOutbox, caplog: pytest.LogCaptureFixture
) -> None:
    calls = threading.Event()

    def settings() -> wh.WebhookSettings:
        calls.set()
        raise RuntimeError("settings unreadable")

    sender = wh.WebhookSender(outbox, settings=settings, post=Posts())
    with caplog.at_level(logging.ERROR, logger=wh.__name__):
        sender.start()
        outbox.enqueue("j", "job.succeeded", f"http://{PUBLIC}/x", None, {}, NOW)
        sender.wake()
        assert calls.wait(WAIT)
        assert sender.stop(WAIT)
    assert any("unexpected error" in r.getMessage() and r.exc_info for r in caplog.records)
