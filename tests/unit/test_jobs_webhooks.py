"""Job webhooks per the Standard Webhooks spec: every signed request verifies with the `standardwebhooks` package
itself; deliveries are durable rows retried with backoff, one id across retries; the URL rule refuses what would
make the WebUI a proxy into its own network (SSRF), at submit and again at each attempt, DNS rebinding included.

No test waits on the clock: time is a fake clock where retries matter, and threads are awaited through events."""

from __future__ import annotations

import base64
import json
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook as Verifier
from standardwebhooks import WebhookVerificationError

from sd_prompt_templates.db import Database
from sd_prompt_templates.jobs import webhooks as wh
from sd_prompt_templates.plan import GenerationPlan

TABLE = """
CREATE TABLE webhook_deliveries (id TEXT PRIMARY KEY, job_id TEXT NOT NULL, event TEXT NOT NULL, url TEXT NOT NULL,
  secret TEXT, body TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending', last_error TEXT, created_at REAL NOT NULL, sent_at REAL);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at)
"""
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the spec's libraries' own test secret (24 bytes)
PUBLIC = "93.184.215.14"  # a public address (example.com's): only ever "resolved" to or handed to a fake post
NOW = 1_700_000_000.0
WAIT = 30.0  # a guard against a hung test, never a measure: events end the waits


def database(path: Path) -> Database:
    return Database(path, [(1, TABLE)])


@pytest.fixture
def outbox(tmp_path: Path) -> wh.WebhookOutbox:
    return wh.WebhookOutbox(database(tmp_path / "jobs.sqlite3"))


def fake_dns(table: dict[str, Sequence[str]]) -> wh.Resolver:
    def resolve(host: str, port: int) -> Sequence[str]:
        if host not in table:
            raise OSError(f"[Errno -2] Name or service not known: {host}")
        return table[host]

    return resolve


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Posts:
    """A fake `post`: answers from a script, records each request."""

    answers: list[wh.Response | Exception] = field(default_factory=list)
    requests: list[wh.OutgoingRequest] = field(default_factory=list)

    def __call__(self, request: wh.OutgoingRequest) -> wh.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if self.answers else wh.Response(200, "OK")
        if isinstance(answer, Exception):
            raise answer
        return answer


def verify(secret: str, body: bytes | str, headers: dict[str, str]) -> Any:
    """The receiver's side, by the reference package."""
    return Verifier(secret).verify(body, headers)


# --- secrets and signatures ---------------------------------------------------------------------------------------


def test_new_secrets_are_whsec_base64_of_32_random_bytes() -> None:
    one, two = wh.new_secret(), wh.new_secret()
    assert one != two and one.startswith("whsec_")
    assert len(wh.secret_key(one)) == 32 and wh.secret_problem(one) is None
    Verifier(one)  # the package takes it too


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "must start with 'whsec_'"),
        ("whsec_not base64!!", "standard base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "24 to 64 bytes, this one has 5"),
        ("whsec_" + base64.b64encode(bytes(65)).decode(), "24 to 64 bytes, this one has 65"),
        ("whsec_", "this one has 0"),
    ],
)
def test_a_bad_secret_is_refused_with_a_clear_reason(secret: str, message: str) -> None:
    with pytest.raises(wh.InvalidSecret, match=message):
        wh.secret_key(secret)
    assert message in (wh.secret_problem(secret) or "")


def test_unpadded_base64_is_accepted() -> None:
    key = bytes(range(25))  # 25 bytes: base64 with one '=' of padding
    padded = base64.b64encode(key).decode()
    assert padded.endswith("=")
    assert wh.secret_key("whsec_" + padded.rstrip("=")) == key == wh.secret_key("whsec_" + padded)


def test_signatures_verify_with_the_standardwebhooks_package() -> None:
    body = wh.envelope("job.succeeded", {"id": "j1", "prompt": "ünïcode ✓"}, NOW)
    headers = wh.signed_headers(SECRET, "msg_abc", int(time.time()), body)
    assert headers["webhook-signature"].startswith("v1,")
    assert verify(SECRET, body.encode(), headers)["data"]["prompt"] == "ünïcode ✓"
    with pytest.raises(WebhookVerificationError):
        verify(wh.new_secret(), body.encode(), headers)
    with pytest.raises(WebhookVerificationError):
        verify(SECRET, body.replace("j1", "j2").encode(), headers)


def test_the_spec_example_signature() -> None:
    # the reference libraries' own test vector
    body = '{"test": 2432232314}'
    assert wh.sign(SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == (
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_an_id_with_a_dot_is_refused() -> None:
    with pytest.raises(ValueError, match="must not contain"):
        wh.sign(SECRET, "msg_a.b", 1, "{}")


def test_the_envelope_is_the_specs_compact_json() -> None:
    body = wh.envelope("job.failed", {"id": "j1", "error": None}, 1667507170.344522)
    assert body == '{"type":"job.failed","timestamp":"2022-11-03T20:26:10.344Z","data":{"id":"j1","error":null}}'


# --- the URL rule (SSRF) ------------------------------------------------------------------------------------------

OPEN = wh.WebhookSettings(secret=SECRET)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://hooks.example.com/x", "http or https, not ftp"),
        ("file:///etc/passwd", "http or https"),
        ("hooks.example.com/x", "http or https"),
        ("https://user:pw@hooks.example.com/x", "credentials"),
        ("https:///x", "no host"),
        ("https://hooks.example.com/a b", "spaces or control characters"),
        ("https://hooks.example.com/\r\nX-Injected: 1", "spaces or control characters"),
        ("https://hooks.example.com:99999/", "malformed"),
        ("", "empty"),
        ("https://hooks.example.com/" + "a" * 3000, "longer than"),
    ],
)
def test_malformed_or_non_http_urls_are_refused(url: str, reason: str) -> None:
    assert reason in (wh.check_webhook_url(url, OPEN, resolve=fake_dns({"hooks.example.com": [PUBLIC]})) or "")


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.1.2.3",
        "10.0.0.5",
        "172.16.0.1",
        "192.168.1.10",
        "169.254.169.254",  # the clouds' metadata service
        "100.64.0.1",  # shared address space (carrier NAT)
        "0.0.0.0",
        "224.0.0.1",
        "[::1]",
        "[fe80::1]",
        "[fc00::1]",
        "[::ffff:127.0.0.1]",  # IPv4-mapped
        "[2002:7f00:1::]",  # 6to4 of 127.0.0.1
        "[64:ff9b::a9fe:a9fe]",  # NAT64 of 169.254.169.254
    ],
)
def test_with_an_empty_allow_list_loopback_private_and_link_local_addresses_are_refused(host: str) -> None:
    reason = wh.check_webhook_url(f"http://{host}:8000/hook", OPEN)
    assert reason is not None and "allow-list" in reason


def test_a_name_that_resolves_to_a_private_address_is_refused() -> None:
    dns = fake_dns({"intranet.example.com": ["10.1.2.3"], "mixed.example.com": [PUBLIC, "127.0.0.1"]})
    assert "10.1.2.3" in (wh.check_webhook_url("https://intranet.example.com/", OPEN, resolve=dns) or "")
    assert "127.0.0.1" in (wh.check_webhook_url("https://mixed.example.com/", OPEN, resolve=dns) or "")
    assert wh.check_webhook_url("http://localhost:7860/", OPEN) is not None  # the real resolver: /etc/hosts


def test_with_an_empty_allow_list_a_public_host_is_allowed() -> None:
    dns = fake_dns({"hooks.example.com": [PUBLIC, "2606:4700::1"]})
    assert wh.check_webhook_url("https://hooks.example.com/x?token=1", OPEN, resolve=dns) is None
    assert wh.check_webhook_url(f"http://{PUBLIC}/x", OPEN) is None


def test_a_host_that_does_not_resolve_is_refused_for_now() -> None:
    with pytest.raises(wh.WebhookRefused, match="cannot resolve") as refused:
        wh.vet_url("https://gone.example.com/", OPEN, resolve=fake_dns({}))
    assert refused.value.permanent is False  # at send time: retried, DNS may come back


@pytest.mark.parametrize(
    ("allowed", "url", "allowed_or_not"),
    [
        (("127.0.0.1",), "http://127.0.0.1:9000/hook", True),
        (("localhost",), "http://localhost:9000/hook", True),
        (("LocalHost.",), "http://localhost:9000/hook", True),
        (("[::1]",), "http://[::1]:9000/hook", True),
        (("192.168.1.0/24",), "http://192.168.1.20/hook", True),
        (("192.168.1.0/24",), "http://192.168.2.20/hook", False),
        (("intranet.example.com",), "https://intranet.example.com/hook", True),  # listed: private is fine
        (("*.example.com",), "https://a.b.example.com/hook", True),
        (("*.example.com",), "https://example.com/hook", False),  # subdomains only
        (("*.example.com",), "https://evilexample.com/hook", False),
        (("hooks.example.com",), "https://public.example.org/hook", False),  # a list admits only itself
        (("hooks.example.com", "*"), "https://public.example.org/hook", True),  # '*': and any public host
        (("hooks.example.com", "*"), "http://10.9.9.9/hook", False),  # ... never a private one
    ],
)
def test_the_allow_list(allowed: tuple[str, ...], url: str, allowed_or_not: bool) -> None:
    dns = fake_dns(
        {
            "localhost": ["127.0.0.1"],
            "intranet.example.com": ["10.0.0.8"],
            "a.b.example.com": [PUBLIC],
            "example.com": [PUBLIC],
            "evilexample.com": [PUBLIC],
            "public.example.org": [PUBLIC],
        }
    )
    settings = wh.WebhookSettings(secret=SECRET, allowed_hosts=allowed)
    reason = wh.check_webhook_url(url, settings, resolve=dns)
    assert (reason is None) is allowed_or_not, reason


def test_parse_allowed_hosts() -> None:
    assert wh.parse_allowed_hosts(" 127.0.0.1, hooks.example.com\n*.example.org ,,") == (
        "127.0.0.1",
        "hooks.example.com",
        "*.example.org",
    )


@dataclass(frozen=True)
class Hook:
    url: str
    secret: str | None = None
    events: tuple[str, ...] | None = None


def test_check_webhook_at_submit() -> None:
    dns = fake_dns({"hooks.example.com": [PUBLIC]})
    url = "https://hooks.example.com/x"
    no_secret = wh.WebhookSettings()
    reason = wh.check_webhook(Hook(url), no_secret, resolve=dns)
    assert reason is not None and "signing secret" in reason and "Settings" in reason
    assert wh.check_webhook(Hook(url, secret=SECRET), no_secret, resolve=dns) is None
    assert wh.check_webhook(Hook(url), OPEN, resolve=dns) is None  # the default secret
    assert "the webhook's secret is invalid" in (wh.check_webhook(Hook(url, "oops"), OPEN, resolve=dns) or "")
    bad_default = wh.WebhookSettings(secret="whsec_short")
    assert "the default webhook secret in Settings" in (wh.check_webhook(Hook(url), bad_default, resolve=dns) or "")
    assert "job.done" in (wh.check_webhook(Hook(url, events=("job.done",)), OPEN, resolve=dns) or "")
    assert "http or https" in (wh.check_webhook(Hook("gopher://x/"), OPEN, resolve=dns) or "")


# --- the outbox ----------------------------------------------------------------------------------------------------


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


# --- the sender, with a fake post and a fake clock ---------------------------------------------------------------


def sender_for(
    outbox: wh.WebhookOutbox, posts: Posts, clock: Clock, settings: wh.WebhookSettings = OPEN, **kwargs: Any
) -> wh.WebhookSender:
    return wh.WebhookSender(outbox, settings=lambda: settings, post=posts, clock=clock, **kwargs)


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


LOCAL = wh.WebhookSettings(secret=SECRET, allowed_hosts=("127.0.0.1",))


@dataclass(frozen=True)
class FakeJob:
    id: str
    status: str
    plan: GenerationPlan
    images_done: int = 0
    error: str | None = None
    webhook: Hook | None = None
    created_at: float = NOW
    finished_at: float | None = None


def a_plan(images: int = 3) -> GenerationPlan:
    return GenerationPlan(
        kind="txt2img",
        payload={"steps": 20},
        prompt_source="a {red|blue} cat",
        negative_source="",
        prompts=[f"a cat {n}" for n in range(images)],
        negative_prompts=[""] * images,
        seeds=[100 + n for n in range(images)],
        batch_size=1,
        n_iter=images,
        template="cats",
        template_version=4,
        variables={"color": "red"},
    )


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


# --- from a job to its events ---------------------------------------------------------------------------------------


def test_the_payload_of_a_job() -> None:
    job = FakeJob("j7", "failed", a_plan(3), images_done=2, error="out of memory", finished_at=NOW + 61.5)
    data = wh.job_payload(job)
    assert data == {
        "id": "j7",
        "status": "failed",
        "url": "/prompt-templates/v1/jobs/j7",
        "kind": "txt2img",
        "created_at": "2023-11-14T22:13:20.000Z",
        "finished_at": "2023-11-14T22:14:21.500Z",
        "template": "cats",
        "template_version": 4,
        "variables": {"color": "red"},
        "mode": "random",
        "prompts": ["a cat 0", "a cat 1", "a cat 2"],
        "negative_prompts": ["", "", ""],
        "prompts_listed": 3,
        "seeds": [100, 101, 102],
        "progress": {"images_done": 2, "images_total": 3, "fraction": 2 / 3},
        "error": "out of memory",
        "images": ["/prompt-templates/v1/jobs/j7/images/0", "/prompt-templates/v1/jobs/j7/images/1"],
    }
    big = wh.job_payload(FakeJob("j8", "succeeded", a_plan(200), images_done=200), url_prefix="/x/")
    assert len(big["prompts"]) == big["prompts_listed"] == wh.MAX_LISTED_PROMPTS and len(big["seeds"]) == 200
    assert big["images"][0] == "/x/jobs/j8/images/0" and len(wh.envelope("job.succeeded", big, NOW)) < 20_000


def test_an_enum_status_is_sent_as_its_value() -> None:
    import enum

    class Status(str, enum.Enum):
        SUCCEEDED = "succeeded"

    assert wh.job_payload(FakeJob("j", Status.SUCCEEDED, a_plan()))["status"] == "succeeded"  # type: ignore[arg-type]


def notifier_for(outbox: wh.WebhookOutbox, clock: Clock, settings: wh.WebhookSettings = OPEN) -> wh.WebhookNotifier:
    return wh.WebhookNotifier(outbox, settings=lambda: settings, clock=clock)


def test_only_the_events_asked_for_are_enqueued(outbox: wh.WebhookOutbox) -> None:
    notifier = notifier_for(outbox, Clock())
    default = FakeJob("a", "succeeded", a_plan(), webhook=Hook(f"http://{PUBLIC}/x"))
    assert notifier.notify(default, "job.succeeded") is not None
    assert notifier.notify(default, "job.progress") is None  # not among the default events
    only_failed = FakeJob("b", "succeeded", a_plan(), webhook=Hook(f"http://{PUBLIC}/x", events=("job.failed",)))
    assert notifier.notify_status(only_failed) is None
    assert notifier.notify(FakeJob("c", "succeeded", a_plan()), "job.succeeded") is None  # no webhook
    assert notifier.notify_status(FakeJob("d", "running", a_plan(), webhook=Hook(f"http://{PUBLIC}/x"))) is None
    assert notifier.notify(default, "job.started") is None  # the runner tells of it; no webhook can ask for it
    assert [d.event for d in outbox.for_job("a")] == ["job.succeeded"] and outbox.for_job("b") == []


def test_the_webhooks_own_secret_is_stored_with_the_delivery(outbox: wh.WebhookOutbox) -> None:
    own = wh.new_secret()
    notifier = notifier_for(outbox, Clock())
    job = FakeJob("a", "cancelled", a_plan(), webhook=Hook(f"http://{PUBLIC}/x", secret=own))
    delivery = notifier.notify_status(job)
    assert delivery is not None and delivery.event == "job.cancelled" and delivery.secret == own
    notifier(job, "job.cancelled")  # as the runner's listener
    assert [d.event for d in outbox.for_job("a")] == ["job.cancelled"] * 2


def test_progress_is_sent_at_most_every_n_seconds_per_job(outbox: wh.WebhookOutbox) -> None:
    clock = Clock()
    notifier = notifier_for(outbox, clock, wh.WebhookSettings(secret=SECRET, progress_every=10))
    hook = Hook(f"http://{PUBLIC}/x", events=("job.progress", "job.succeeded"))
    one, two = (FakeJob(i, "running", a_plan(), webhook=hook) for i in ("one", "two"))
    sent: list[bool] = []
    for step in (0, 4, 9.9, 10, 15, 20.5):
        clock.now = NOW + step
        sent.append(notifier.notify(one, "job.progress") is not None)
    assert sent == [True, False, False, True, False, True]
    assert notifier.notify(two, "job.progress") is not None  # each job its own pace
    assert notifier.notify(one, "job.succeeded") is not None
    assert [d.event for d in outbox.for_job("one")] == ["job.progress"] * 3 + ["job.succeeded"]


def test_enqueueing_wakes_the_sender(outbox: wh.WebhookOutbox) -> None:
    woken: list[bool] = []

    class Spy(wh.WebhookSender):
        def wake(self) -> None:
            woken.append(True)

    spy = Spy(outbox, settings=lambda: OPEN, post=Posts())
    notifier = wh.WebhookNotifier(outbox, settings=lambda: OPEN, sender=spy)
    notifier.notify(FakeJob("a", "succeeded", a_plan(), webhook=Hook(f"http://{PUBLIC}/x")), "job.succeeded")
    assert woken == [True]


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        wh.WebhookSettings(max_attempts=0)
    with pytest.raises(ValueError, match="progress_every"):
        wh.WebhookSettings(progress_every=-1)
    assert wh.WebhookSettings(secret="").default_secret is None


def test_types_used_by_the_rule_are_the_callables_documented() -> None:
    resolve: Callable[[str, int], Sequence[str]] = wh.resolve_host
    assert "127.0.0.1" in resolve("localhost", 80) or "::1" in resolve("localhost", 80)


def test_it_fits_the_job_model(outbox: wh.WebhookOutbox) -> None:
    """The jobs core's `Job` and `Webhook` are what the notifier reads, and both sides name the same events."""
    from sd_prompt_templates.jobs import model

    assert set(wh.EVENTS) == set(model.WEBHOOK_EVENTS) and set(wh.DEFAULT_EVENTS) == set(model.END_EVENTS)
    assert {status.value: event for status, event in model.END_EVENT_OF.items()} == wh.FINAL_EVENTS
    hook = model.Webhook(f"http://{PUBLIC}/x", events=("job.succeeded", "job.progress"))
    job = model.Job(
        id="f" * 32,
        seq=1,
        status=model.JobStatus.SUCCEEDED,
        plan=a_plan(2),
        created_at=NOW,
        updated_at=NOW,
        version=1,
        finished_at=NOW + 1,
        images_done=2,
        webhook=hook,
    )
    assert wh.check_webhook(hook, OPEN) is None
    data = wh.job_payload(job)
    assert data["status"] == "succeeded" and data["images"][-1] == f"/prompt-templates/v1/jobs/{job.id}/images/1"
    notifier = wh.WebhookNotifier(outbox, settings=lambda: OPEN)
    assert notifier.notify_status(job) is not None and notifier.notify(job, "job.progress") is not None
    assert notifier.notify(job, "job.failed") is None  # not asked for
