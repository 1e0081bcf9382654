"""The Standard Webhooks message (https://www.standardwebhooks.com/): its secret, id, body and signature.

Signed with the standard library: the scheme is a few lines of `hmac` (`v1,` + base64 HMAC-SHA256 of
`{id}.{timestamp}.{body}`, keyed by the base64 part of a `whsec_…` secret). The tests check every request with the
`standardwebhooks` package itself, which stays a test-only dependency: the extension's runtime dependencies are
installed into the WebUI's own environment, and its older releases pull httpx, attrs, python-dateutil and
Deprecated. The secret rule here is the only one: `jobs.model` checks a job's webhook secret with it too."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, Final

SECRET_PREFIX: Final = "whsec_"
SECRET_BYTES: Final = (24, 64)  # the spec: "Random. Between 24 bytes (192 bits) and 64 bytes (512 bits)"


class InvalidSecret(ValueError):
    """A signing secret that is not `whsec_` followed by the base64 of 24 to 64 bytes."""


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_…` secret: its base64 part, decoded. Strict, unlike a lenient decoder that skips
    stray characters: a mistyped secret is an error now, not signatures that never verify."""
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        raise InvalidSecret("a webhook secret must start with 'whsec_' followed by base64 (e.g. from new_secret())")
    encoded = secret[len(SECRET_PREFIX) :]
    if "=" not in encoded:
        encoded += "=" * (-len(encoded) % 4)  # unpadded base64 is common: accept it
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSecret("a webhook secret must be 'whsec_' followed by standard base64 (A-Z a-z 0-9 + /)") from None
    low, high = SECRET_BYTES
    if not low <= len(key) <= high:
        raise InvalidSecret(f"a webhook secret must encode {low} to {high} bytes, this one has {len(key)}")
    return key


def secret_problem(secret: str) -> str | None:
    """Why `secret` can't sign webhooks, or None when it can."""
    try:
        secret_key(secret)
    except InvalidSecret as error:
        return str(error)
    return None


def new_secret() -> str:
    """A fresh signing secret, 32 random bytes, in the spec's `whsec_<base64>` form."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def sign(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """The `webhook-signature` value: `v1,` and the base64 HMAC-SHA256 of `{msg_id}.{timestamp}.{body}`."""
    if "." in msg_id:  # the spec: ids must not contain the delimiter, or one message could pass for another
        raise ValueError(f"a webhook id must not contain '.': {msg_id!r}")
    digest = hmac.new(secret_key(secret), f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signed_headers(secret: str, msg_id: str, timestamp: int, body: str) -> dict[str, str]:
    """Every header of one attempt: the three the spec names, and the body's type."""
    return {
        "content-type": "application/json",
        "user-agent": "sd-prompt-templates-webhooks",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }


def new_message_id() -> str:
    """A fresh webhook id: `msg_` and 32 hex digits (no '.', as the spec requires)."""
    return f"msg_{uuid.uuid4().hex}"


def iso_timestamp(when: float) -> str:
    """`when` (seconds since the epoch) as ISO 8601 in UTC with milliseconds, as the spec's envelope shows."""
    return datetime.fromtimestamp(when, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def envelope(event: str, payload: Mapping[str, Any], now: float) -> str:
    """The body of an event: the spec's recommended `{type, timestamp, data}`, as compact JSON — the exact text that
    is signed and sent, stored once so every retry sends the same bytes."""
    document = {"type": event, "timestamp": iso_timestamp(now), "data": payload}
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
