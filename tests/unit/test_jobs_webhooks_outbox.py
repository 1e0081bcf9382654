"""The durable outbox: deliveries are rows with one id and one body across retries, leased to one sender, kept
across a restart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sd_prompt_templates.jobs import webhooks as wh
from tests.unit.test_jobs_webhooks_fakes import (
    NOW,
    OPEN,
    PUBLIC,
    SECRET,
    Clock,
    Posts,
    database,
    sender_for,
)


@pytest.fixture
def outbox(tmp_path: Path) -> wh.WebhookOutbox:
    return wh.WebhookOutbox(database(tmp_path / "jobs.sqlite3"))


def test_enqueue_stores_one_delivery_with_a_fresh_id_and_the_envelope(outbox: wh.WebhookOutbox) -> None:
    one = outbox.enqueue("job1", "job.succeeded", "https://h.example.com/", SECRET, {"id": "job1"}, NOW)
    two = outbox.enqueue("job1", "job.succeeded", "https://h.example.com/", None, {"id": "job1"}, NOW + 1)
    assert one.id != two.id and one.id.startswith("msg_") and "." not in one.id
    assert outbox.get(one.id) == one and outbox.get(two.id) == two and two.secret is None
    assert json.loads(one.body) == {
        "type": "job.succeeded",
        "timestamp": "2023-11-14T22:13:20.000Z",
        "data": {"id": "job1"},
    }
    assert (one.status, one.attempts, one.next_attempt_at, one.sent_at) == ("pending", 0, NOW, None)
    assert [d.id for d in outbox.for_job("job1")] == [one.id, two.id]
    assert SECRET not in repr(one)


def test_a_bad_secret_that_got_past_submit_fails_its_delivery_not_the_job(outbox: wh.WebhookOutbox) -> None:
    delivery = outbox.enqueue("job1", "job.failed", f"http://{PUBLIC}/x", "whsec_@@", {}, NOW)  # no raise here
    posts = Posts()
    sender_for(outbox, posts, Clock()).send_due()
    failed = outbox.get(delivery.id)
    assert posts.requests == [] and failed is not None and failed.status == "failed"
    assert "invalid signing secret" in (failed.last_error or "")


def test_due_mark_failed_and_mark_sent(outbox: wh.WebhookOutbox) -> None:
    late = outbox.enqueue("j", "job.failed", "https://h.example.com/", None, {}, NOW + 10)
    first = outbox.enqueue("j", "job.succeeded", "https://h.example.com/", None, {}, NOW)
    assert [d.id for d in outbox.due(NOW + 10)] == [first.id, late.id]
    assert [d.id for d in outbox.due(NOW)] == [first.id]
    assert [d.id for d in outbox.due(NOW + 10, limit=1)] == [first.id]
    assert outbox.next_due() == NOW

    outbox.mark_failed(first.id, "HTTP 500", NOW + 5)
    retried = outbox.get(first.id)
    assert retried is not None
    assert (retried.status, retried.attempts, retried.next_attempt_at, retried.last_error) == (
        "pending",
        1,
        NOW + 5,
        "HTTP 500",
    )
    assert retried.body == first.body and retried.id == first.id

    outbox.mark_failed(late.id, "HTTP 404", None)
    given_up = outbox.get(late.id)
    assert given_up is not None and (given_up.status, given_up.attempts, given_up.last_error) == (
        "failed",
        1,
        "HTTP 404",
    )

    outbox.mark_sent(first.id, NOW + 6)
    sent = outbox.get(first.id)
    assert sent is not None and (sent.status, sent.attempts, sent.sent_at, sent.last_error) == (
        "sent",
        2,
        NOW + 6,
        None,
    )
    assert outbox.due(NOW + 1000) == [] and outbox.next_due() is None

    outbox.mark_failed(first.id, "late news", NOW)  # a finished delivery stays finished
    assert outbox.get(first.id) == sent


def test_claim_leases_what_it_returns(outbox: wh.WebhookOutbox) -> None:
    one = outbox.enqueue("j", "job.succeeded", "https://h.example.com/", None, {}, NOW)
    assert [d.id for d in outbox.claim(NOW, lease=100)] == [one.id]
    assert outbox.claim(NOW + 50, lease=100) == []  # a second sender does not get it
    assert [d.id for d in outbox.claim(NOW + 100, lease=100)] == [one.id]  # one that died: retried after the lease


def test_deliveries_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    before = wh.WebhookOutbox(database(path))
    stored = before.enqueue("j", "job.succeeded", f"http://{PUBLIC}/hook", SECRET, {"id": "j"}, NOW)

    after = wh.WebhookOutbox(database(path))  # the WebUI started again
    posts = Posts()
    sender = wh.WebhookSender(after, settings=lambda: OPEN, post=posts, clock=Clock(NOW + 60))
    assert sender.send_due() == 1
    assert [r.headers["webhook-id"] for r in posts.requests] == [stored.id]
    assert posts.requests[0].body == stored.body.encode()
    assert after.get(stored.id) is not None and after.get(stored.id).status == "sent"  # type: ignore[union-attr]


def test_delete_for_job(outbox: wh.WebhookOutbox) -> None:
    outbox.enqueue("a", "job.succeeded", "https://h.example.com/", None, {}, NOW)
    outbox.enqueue("a", "job.progress", "https://h.example.com/", None, {}, NOW)
    outbox.enqueue("b", "job.succeeded", "https://h.example.com/", None, {}, NOW)
    assert outbox.delete_for_job("a") == 2
    assert outbox.for_job("a") == [] and len(outbox.for_job("b")) == 1
