"""Standard Webhooks secrets and signatures: every signed request verifies with the `standardwebhooks` package
itself, and a bad secret is refused with a clear reason."""

from __future__ import annotations

import base64
import time

import pytest
from standardwebhooks import Webhook as Verifier
from standardwebhooks import WebhookVerificationError

from sd_prompt_templates.jobs import webhooks as wh
from tests.unit.test_jobs_webhooks_fakes import (
    NOW,
    SECRET,
    verify,
)


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
