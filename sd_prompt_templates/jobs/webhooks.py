"""Webhooks for jobs, per the Standard Webhooks specification (https://www.standardwebhooks.com/): a signed POST
to the caller's URL when a job succeeds, fails or is cancelled (and on progress, if asked).

Why it is built this way:
- **Durable outbox.** An event is a row of `webhook_deliveries` (the jobs database) written when it happens, and a
  thread of its own sends it later: the generation thread never waits on somebody else's server, and a delivery
  pending at a restart is sent after it. Each event keeps one `webhook-id` (`msg_…`) across all its retries, so a
  receiver can de-duplicate.
- **Signing with the standard library.** The scheme is a few lines of `hmac` (`v1,` + base64 HMAC-SHA256 of
  `{id}.{timestamp}.{body}`, keyed by the base64 part of a `whsec_…` secret); the tests check every request with
  the `standardwebhooks` package itself, which stays a test-only dependency: the extension's runtime dependencies
  are installed into the WebUI's own environment, and its older releases pull httpx, attrs, python-dateutil and
  Deprecated.
- **Retries.** 2xx is success. Anything else — another status, a timeout, a refused connection, a redirect (never
  followed) — is retried with exponential backoff and jitter (5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h,
  8 h…) up to `max_attempts`, a `Retry-After` longer than that delay is honoured; then the delivery is `failed`
  with its last error, and logged. `410 Gone` stops at once: the receiver asked for no more.
- **SSRF.** A webhook URL makes this server send a request wherever a caller says, so (see `check_webhook_url`):
  only http/https; with an empty allow-list any host whose every address is public is allowed, and loopback,
  private, link-local, shared, reserved and multicast addresses are refused; a host listed in the allow-list is
  allowed whatever it resolves to; a non-empty allow-list admits only what it lists (`*` in it: any public host
  too). The URL is checked when the job is submitted and again before each attempt (DNS can change), and the request
  then connects to the very addresses checked, never resolving the name a second time (DNS rebinding). Environment
  proxies are therefore not used.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import random
import secrets
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Final, Protocol
from urllib.parse import urlsplit, urlunsplit

from sd_prompt_templates.db import Database

log = logging.getLogger(__name__)

# --- events ------------------------------------------------------------------------------------------------------

JOB_SUCCEEDED: Final = "job.succeeded"
JOB_FAILED: Final = "job.failed"
JOB_CANCELLED: Final = "job.cancelled"
JOB_PROGRESS: Final = "job.progress"
EVENTS: Final = (JOB_SUCCEEDED, JOB_FAILED, JOB_CANCELLED, JOB_PROGRESS)
DEFAULT_EVENTS: Final = (JOB_SUCCEEDED, JOB_FAILED, JOB_CANCELLED)  # when a webhook names none
FINAL_EVENTS: Final = {"succeeded": JOB_SUCCEEDED, "failed": JOB_FAILED, "cancelled": JOB_CANCELLED}
"""The event a job's final status sends."""

DEFAULT_URL_PREFIX: Final = "/prompt-templates/v1"

# --- secrets and signatures ----------------------------------------------------------------------------------------

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


# --- settings ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookSettings:
    """What the WebUI's Settings say about webhooks, read afresh for each use (a change applies to the next
    attempt, pending retries included)."""

    secret: str | None = None
    """The default signing secret, for a webhook that gives none (a pending delivery without its own secret is
    signed with the one in force when it is sent). None or '': such webhooks are refused at submit."""
    allowed_hosts: tuple[str, ...] = ()
    """Empty: any host whose addresses are all public. Otherwise only these: `hooks.example.com`,
    `*.example.com` (its subdomains), `127.0.0.1`, `10.0.0.0/8`, `localhost`; `*` adds any public host. A host
    listed is allowed whatever address it resolves to — the way to reach a receiver on this machine or the LAN."""
    max_attempts: int = 10
    """Attempts in all, the first included, before a delivery is given up as failed."""
    progress_every: float = 30.0
    """Seconds between two `job.progress` events of one job, at least (0: every one)."""
    timeout: float = 10.0
    """Seconds to connect, and then to wait for the answer, per attempt."""

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {self.max_attempts}")
        if self.progress_every < 0 or self.timeout <= 0:
            raise ValueError("progress_every must be >= 0 and timeout > 0")

    @property
    def default_secret(self) -> str | None:
        return self.secret or None


def parse_allowed_hosts(text: str) -> tuple[str, ...]:
    """The allow-list from a Settings text field: entries separated by commas, spaces or new lines."""
    return tuple(entry for entry in text.replace(",", " ").split() if entry)


# --- the URL rule (SSRF) ------------------------------------------------------------------------------------------

Resolver = Callable[[str, int], Sequence[str]]
"""(host, port) -> the addresses it resolves to; raises OSError when it can't."""

MAX_URL_LENGTH: Final = 2048


def resolve_host(host: str, port: int) -> list[str]:
    """The host's addresses, as the system resolver gives them, each once."""
    found: list[str] = []
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        address = str(sockaddr[0])
        if address not in found:
            found.append(address)
    return found


class WebhookRefused(Exception):
    """A URL the rule refuses. `permanent`: trying again later won't help (as opposed to a failed DNS lookup)."""

    def __init__(self, reason: str, *, permanent: bool = True) -> None:
        super().__init__(reason)
        self.reason, self.permanent = reason, permanent


@dataclass(frozen=True)
class Target:
    """A URL that passed the rule, and the addresses it was checked at: the request connects to these."""

    url: str
    host: str
    port: int
    addresses: tuple[str, ...]


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])  # an IPv6 zone (fe80::1%eth0) says nothing of the range
    except ValueError:
        return None


_NAT64: Final = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo, NAT64): such an address reaches that one."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public_address(text: str) -> bool:
    """Whether a request to this address leaves for the public internet: not loopback, private, link-local,
    shared (100.64/10), reserved, unspecified or multicast — nor an IPv6 address that carries such an IPv4 one."""
    address = _ip(text)
    if address is None or not address.is_global or address.is_multicast:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            return is_public_address(str(inner))
    return True


def _normal_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def host_listed(host: str, allowed_hosts: Iterable[str]) -> bool:
    """Whether `host` is named by an entry of the allow-list (`*` names no host: it is the any-public-host switch)."""
    host = _normal_host(host)
    address = _ip(host)
    for raw in allowed_hosts:
        entry = _normal_host(raw)
        if not entry or entry == "*":
            continue
        if entry.startswith("*."):
            if host.endswith(entry[1:]):
                return True
        elif address is not None and ("/" in entry or _ip(entry) is not None):
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
        elif host == entry:
            return True
    return False


def _split_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL the rule can consider at all; WebhookRefused otherwise."""
    if not isinstance(url, str) or not url:
        raise WebhookRefused("the webhook URL is empty")
    if len(url) > MAX_URL_LENGTH:
        raise WebhookRefused(f"the webhook URL is longer than {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise WebhookRefused("the webhook URL contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise WebhookRefused(f"the webhook URL is malformed: {error}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise WebhookRefused(f"a webhook URL must be http or https, not {parts.scheme or 'schemeless'}")
    if parts.username is not None or parts.password is not None:
        raise WebhookRefused("a webhook URL must not carry credentials (user:password@); the signature authenticates")
    if not parts.hostname:
        raise WebhookRefused("the webhook URL has no host")
    return scheme, _normal_host(parts.hostname), port or (443 if scheme == "https" else 80)


def vet_url(url: str, settings: WebhookSettings, *, resolve: Resolver = resolve_host) -> Target:
    """The URL as a `Target` if the rule allows it (the module's docstring has the rule); WebhookRefused with the
    reason otherwise. Resolves the host (an IP literal is its own address)."""
    _, host, port = _split_url(url)
    listed = host_listed(host, settings.allowed_hosts)
    open_to_public = not settings.allowed_hosts or any(_normal_host(e) == "*" for e in settings.allowed_hosts)
    if not listed and not open_to_public:
        raise WebhookRefused(f"the host {host} is not in the webhook allow-list (Settings)")
    literal = _ip(host)
    if literal is not None:
        addresses: tuple[str, ...] = (host,)
    else:
        try:
            addresses = tuple(resolve(host, port))
        except (OSError, UnicodeError) as error:
            raise WebhookRefused(f"cannot resolve the webhook host {host}: {error}", permanent=False) from None
        if not addresses:
            raise WebhookRefused(f"the webhook host {host} resolves to no address", permanent=False)
    if not listed:
        private = [a for a in addresses if not is_public_address(a)]
        if private:
            raise WebhookRefused(
                f"the webhook host {host} is at {private[0]}, a loopback, private or link-local address; "
                "list the host in the webhook allow-list (Settings) to allow it"
            )
    return Target(url=url, host=host, port=port, addresses=addresses)


def check_webhook_url(url: str, settings: WebhookSettings, *, resolve: Resolver = resolve_host) -> str | None:
    """Why the URL is refused as a webhook, or None when it is allowed (resolves its host)."""
    try:
        vet_url(url, settings, resolve=resolve)
    except WebhookRefused as refused:
        return refused.reason
    return None


class WebhookSpec(Protocol):
    """What a job's webhook gives (`jobs.model.Webhook`, or the request's model)."""

    @property
    def url(self) -> str: ...

    @property
    def secret(self) -> str | None: ...

    @property
    def events(self) -> Collection[str] | None: ...


def wanted_events(webhook: WebhookSpec) -> tuple[str, ...]:
    """The events a webhook asked for; the final ones when it named none."""
    return tuple(webhook.events) if webhook.events else DEFAULT_EVENTS


def check_webhook(webhook: WebhookSpec, settings: WebhookSettings, *, resolve: Resolver = resolve_host) -> str | None:
    """Why a job's webhook is refused at submit (a 422 then, never a job whose callbacks can't go), or None."""
    unknown = sorted(set(wanted_events(webhook)) - set(EVENTS))
    if unknown:
        return f"unknown webhook event(s) {', '.join(unknown)}; known: {', '.join(EVENTS)}"
    secret = webhook.secret or settings.default_secret
    if secret is None:
        return "a webhook needs a signing secret: give one ('whsec_…') with it, or set the default one in Settings"
    problem = secret_problem(secret)
    if problem is not None:
        where = "the webhook's secret" if webhook.secret else "the default webhook secret in Settings"
        return f"{where} is invalid: {problem}"
    return check_webhook_url(webhook.url, settings, resolve=resolve)


# --- the outbox ----------------------------------------------------------------------------------------------------

PENDING: Final = "pending"
SENT: Final = "sent"
FAILED: Final = "failed"

_COLUMNS: Final = (
    "id, job_id, event, url, secret, body, attempts, next_attempt_at, status, last_error, created_at, sent_at"
)


@dataclass(frozen=True)
class Delivery:
    """One event for one URL: a row of `webhook_deliveries`."""

    id: str  # the `webhook-id`, the same for every attempt
    job_id: str
    event: str
    url: str
    secret: str | None  # None: the default secret in Settings when sent
    body: str  # the exact JSON sent and signed
    attempts: int
    next_attempt_at: float
    status: str  # pending, sent or failed
    last_error: str | None
    created_at: float
    sent_at: float | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Delivery:
        return cls(**{name: row[name] for name in _COLUMNS.split(", ")})

    def __repr__(self) -> str:  # never print the secret
        return f"Delivery(id={self.id!r}, job_id={self.job_id!r}, event={self.event!r}, status={self.status!r})"


class WebhookOutbox:
    """The deliveries in the jobs database: written in the job's thread, sent by the `WebhookSender`'s."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def enqueue(
        self, job_id: str, event: str, url: str, secret: str | None, payload: Mapping[str, Any], now: float
    ) -> Delivery:
        """Store one event for sending as soon as possible, with a fresh id and its body fixed now. The secret is
        checked at submit (`check_webhook`), not here: this runs in the job's thread at its end, and a secret found
        bad at sending fails the delivery with that reason, logged, rather than the job."""
        delivery = Delivery(
            id=new_message_id(),
            job_id=job_id,
            event=event,
            url=url,
            secret=secret,
            body=envelope(event, payload, now),
            attempts=0,
            next_attempt_at=now,
            status=PENDING,
            last_error=None,
            created_at=now,
            sent_at=None,
        )
        with self.database.write() as conn:
            conn.execute(
                f"INSERT INTO webhook_deliveries ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                tuple(getattr(delivery, name) for name in _COLUMNS.split(", ")),
            )
        return delivery

    def get(self, delivery_id: str) -> Delivery | None:
        with self.database.read() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM webhook_deliveries WHERE id = ?", (delivery_id,)).fetchone()
        return Delivery.from_row(row) if row else None

    def for_job(self, job_id: str) -> list[Delivery]:
        """A job's deliveries, oldest first."""
        with self.database.read() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM webhook_deliveries WHERE job_id = ? ORDER BY created_at, rowid", (job_id,)
            ).fetchall()
        return [Delivery.from_row(row) for row in rows]

    def due(self, now: float, limit: int = 10) -> list[Delivery]:
        """The pending deliveries whose next attempt is due, the longest waiting first."""
        with self.database.read() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM webhook_deliveries WHERE status = ? AND next_attempt_at <= ? "
                "ORDER BY next_attempt_at LIMIT ?",
                (PENDING, now, limit),
            ).fetchall()
        return [Delivery.from_row(row) for row in rows]

    def claim(self, now: float, lease: float, limit: int = 1) -> list[Delivery]:
        """Like `due`, and pushes their next attempt `lease` seconds on in the same transaction: a second sender
        (another process on the file, an old thread not yet ended) does not send them too, and one that dies
        mid-attempt has them retried once the lease is over."""
        with self.database.write() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM webhook_deliveries WHERE status = ? AND next_attempt_at <= ? "
                "ORDER BY next_attempt_at LIMIT ?",
                (PENDING, now, limit),
            ).fetchall()
            conn.executemany(
                "UPDATE webhook_deliveries SET next_attempt_at = ? WHERE id = ?",
                [(now + lease, row["id"]) for row in rows],
            )
        return [Delivery.from_row(row) for row in rows]

    def next_due(self) -> float | None:
        """When the earliest pending delivery is due; None when none is pending."""
        with self.database.read() as conn:
            row = conn.execute(
                "SELECT MIN(next_attempt_at) FROM webhook_deliveries WHERE status = ?", (PENDING,)
            ).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def mark_sent(self, delivery_id: str, now: float) -> None:
        """The receiver took it (2xx): counted as an attempt, done."""
        with self.database.write() as conn:
            conn.execute(
                "UPDATE webhook_deliveries SET status = ?, attempts = attempts + 1, sent_at = ?, last_error = NULL "
                "WHERE id = ? AND status = ?",
                (SENT, now, delivery_id, PENDING),
            )

    def mark_failed(self, delivery_id: str, error: str, next_attempt_at: float | None) -> None:
        """An attempt failed with `error`: try again at `next_attempt_at`, or, when None, give up (`failed`)."""
        status = PENDING if next_attempt_at is not None else FAILED
        with self.database.write() as conn:
            conn.execute(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, last_error = ?, status = ?, "
                "next_attempt_at = COALESCE(?, next_attempt_at) WHERE id = ? AND status = ?",
                (error, status, next_attempt_at, delivery_id, PENDING),
            )

    def delete_for_job(self, job_id: str) -> int:
        """Forget a job's deliveries (when the job itself is deleted or pruned); how many there were."""
        with self.database.write() as conn:
            return conn.execute("DELETE FROM webhook_deliveries WHERE job_id = ?", (job_id,)).rowcount


# --- sending -------------------------------------------------------------------------------------------------------

RETRY_DELAYS: Final[tuple[float, ...]] = (5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800)
"""Seconds before the next attempt after the 1st, 2nd… failed one; the last repeats."""
JITTER: Final = 0.1  # ±10 %, so that receivers that failed together are not all retried in the same second
MAX_RETRY_AFTER: Final = 86400.0


def retry_delay(failed_attempts: int) -> float:
    """The base delay after `failed_attempts` failed attempts (1 or more)."""
    return RETRY_DELAYS[min(max(failed_attempts, 1), len(RETRY_DELAYS)) - 1]


@dataclass(frozen=True)
class OutgoingRequest:
    """One attempt, ready to send: what a `post` function is given."""

    url: str
    host: str
    port: int
    addresses: tuple[str, ...]  # checked by the rule: connect to these, never resolve `host` again
    body: bytes
    headers: Mapping[str, str]
    timeout: float


@dataclass(frozen=True)
class Response:
    status: int
    reason: str = ""
    retry_after: float | None = None  # seconds, from a Retry-After header
    detail: str = ""  # the start of the answer's body, for the error message


Post = Callable[[OutgoingRequest], Response]
"""Sends one request; raises OSError (or http.client.HTTPException) when no answer came."""


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to an address checked beforehand; the Host header still names the host."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection to an address checked beforehand; the certificate is verified for the host's name."""

    def __init__(self, host: str, port: int, address: str, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self.address, self.tls = address, context

    def connect(self) -> None:
        sock = socket.create_connection((self.address, self.port), self.timeout)
        try:
            self.sock = self.tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError, IndexError):
        return None


def http_post(request: OutgoingRequest) -> Response:
    """POST with the standard library to the first of the request's addresses that accepts a connection. No
    redirect is followed (the spec counts a 3xx as a failure), no proxy is used (the addresses are the checked
    ones)."""
    parts = urlsplit(request.url)
    target = urlunsplit(("", "", parts.path or "/", parts.query, ""))
    context = ssl.create_default_context()
    error: OSError = OSError(f"no address for {request.host}")
    for address in request.addresses:
        conn: http.client.HTTPConnection
        if parts.scheme.lower() == "https":
            conn = _PinnedHTTPSConnection(request.host, request.port, address, request.timeout, context)
        else:
            conn = _PinnedHTTPConnection(request.host, request.port, address, request.timeout)
        try:
            try:
                conn.connect()
            except OSError as failed:  # refused or unreachable there: the next address may answer
                error = failed
                continue
            with _deadline(conn, DEADLINE_FACTOR * request.timeout):
                conn.request("POST", target, body=request.body, headers=dict(request.headers))
                answer = conn.getresponse()
                detail = answer.read(2048).decode("utf-8", "replace")
            retry_after = parse_retry_after(answer.getheader("Retry-After"), time.time())
            return Response(answer.status, answer.reason, retry_after, detail)
        finally:
            conn.close()
    raise error


DEADLINE_FACTOR: Final = 3
"""An attempt's whole exchange ends after this many `timeout`s: the socket timeout bounds each read, not a
receiver that answers a byte at a time — which would hold up every other delivery behind it."""


@contextmanager
def _deadline(conn: http.client.HTTPConnection, seconds: float) -> Iterator[None]:
    """Shut the connection's socket down if the block still runs after `seconds`, and raise TimeoutError then even
    if the block ended: what was read of a cut-off answer proves nothing."""
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        sock = conn.sock
        if sock is not None:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # a blocked read returns at once

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    try:
        yield
    except OSError:
        if expired.is_set():
            raise TimeoutError(f"no complete answer within {seconds:g} s") from None
        raise
    finally:
        timer.cancel()
    if expired.is_set():
        raise TimeoutError(f"no complete answer within {seconds:g} s")


def redact(url: str) -> str:
    """The URL for a log line: without its query, which may carry a token."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to."""

    ok: bool
    error: str = ""
    retry: bool = True  # False: give up now whatever the attempts left
    retry_after: float | None = None


def _outcome(response: Response) -> Outcome:
    if 200 <= response.status < 300:
        return Outcome(ok=True)
    text = f"HTTP {response.status} {response.reason}".rstrip()
    detail = " ".join(response.detail.split())[:200]
    if detail:
        text += f": {detail}"
    if 300 <= response.status < 400:
        text += " (redirects are not followed: give the final URL)"
    if response.status == 410:
        return Outcome(ok=False, error=text + " (the receiver asked for no more)", retry=False)
    return Outcome(ok=False, error=text, retry_after=response.retry_after)


class WebhookSender:
    """Sends the outbox's due deliveries from a daemon thread of its own, one at a time, and sleeps until the next
    is due or `wake()` is called (after an enqueue). `send_due()` is one pass of it, for a caller without a
    thread (and the tests)."""

    POLL: Final = 60.0  # seconds at most between two looks at the outbox (a row another process wrote)
    ERROR_PAUSE: Final = 5.0  # after an unexpected error of the loop itself (logged), before it goes on

    def __init__(
        self,
        outbox: WebhookOutbox,
        *,
        settings: Callable[[], WebhookSettings],
        post: Post | None = None,
        clock: Callable[[], float] = time.time,
        resolve: Resolver = resolve_host,
        jitter: Callable[[], float] = lambda: random.uniform(-JITTER, JITTER),
    ) -> None:
        self.outbox = outbox
        self.settings = settings
        self.post: Post = post or http_post
        self.clock = clock
        self.resolve = resolve
        self.jitter = jitter
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # the thread

    def start(self) -> None:
        """Start the thread; nothing if it runs already."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="prompt-templates-webhooks", daemon=True)
            self._thread.start()

    def stop(self, timeout: float | None = 15.0) -> bool:
        """Ask the thread to end and wait up to `timeout` seconds (an attempt under way finishes first, within
        the settings' timeout); whether it has ended. Nothing to do if it never started or has stopped."""
        with self._lock:
            thread = self._thread
            self._stopping.set()
            self._wake.set()
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def wake(self) -> None:
        """Look at the outbox now (a delivery was just enqueued)."""
        self._wake.set()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        log.debug("webhook sender started")
        while not self._stopping.is_set():
            try:
                self.send_due()
                pause = self._pause()
            except Exception:  # the loop must outlive a locked database or a bug in one delivery: say so, go on
                log.exception("webhook sender: unexpected error; retrying in %s s", self.ERROR_PAUSE)
                pause = self.ERROR_PAUSE
            if self._stopping.is_set():
                break
            self._wake.wait(pause)
            self._wake.clear()
        log.debug("webhook sender stopped")

    def _pause(self) -> float:
        due = self.outbox.next_due()
        if due is None:
            return self.POLL
        return min(max(due - self.clock(), 0.0), self.POLL)

    # one pass

    def send_due(self) -> int:
        """Send every delivery due now, one by one; how many were attempted. Stops early when asked to stop."""
        attempted = 0
        while not self._stopping.is_set():
            settings = self.settings()
            claimed = self.outbox.claim(self.clock(), lease=self._lease(settings))
            if not claimed:
                break
            self.attempt(claimed[0], settings)
            attempted += 1
        return attempted

    @staticmethod
    def _lease(settings: WebhookSettings) -> float:
        return 4 * settings.timeout + 60  # longer than any attempt: connect and answer, on a couple of addresses

    def attempt(self, delivery: Delivery, settings: WebhookSettings) -> Outcome:
        """Make one attempt at `delivery` and record what came of it."""
        outcome = self._try(delivery, settings)
        if outcome.ok:
            self.outbox.mark_sent(delivery.id, self.clock())
            log.info(
                "webhook %s (%s, job %s) delivered to %s",
                delivery.id,
                delivery.event,
                delivery.job_id,
                redact(delivery.url),
            )
        else:
            self._record_failure(delivery, settings, outcome)
        return outcome

    def _try(self, delivery: Delivery, settings: WebhookSettings) -> Outcome:
        secret = delivery.secret or settings.default_secret
        if secret is None:
            return Outcome(
                ok=False, error="no signing secret: the webhook gave none and Settings has none", retry=False
            )
        try:
            target = vet_url(delivery.url, settings, resolve=self.resolve)
            timestamp = int(self.clock())
            request = OutgoingRequest(
                url=target.url,
                host=target.host,
                port=target.port,
                addresses=target.addresses,
                body=delivery.body.encode("utf-8"),
                headers=signed_headers(secret, delivery.id, timestamp, delivery.body),
                timeout=settings.timeout,
            )
        except WebhookRefused as refused:
            return Outcome(ok=False, error=f"refused: {refused.reason}", retry=not refused.permanent)
        except InvalidSecret as error:
            return Outcome(ok=False, error=f"invalid signing secret: {error}", retry=False)
        try:
            return _outcome(self.post(request))
        except Exception as error:  # network errors, and anything odd: an attempt that counts, never a silent loop
            return Outcome(ok=False, error=f"{type(error).__name__}: {error}".rstrip(": "))

    def _record_failure(self, delivery: Delivery, settings: WebhookSettings, outcome: Outcome) -> None:
        attempts = delivery.attempts + 1
        if not outcome.retry or attempts >= settings.max_attempts:
            self.outbox.mark_failed(delivery.id, outcome.error, None)
            log.error(
                "webhook %s (%s, job %s) to %s failed for good after %d attempt(s): %s",
                delivery.id,
                delivery.event,
                delivery.job_id,
                redact(delivery.url),
                attempts,
                outcome.error,
            )
            return
        delay = retry_delay(attempts) * (1 + self.jitter())
        if outcome.retry_after is not None:
            delay = max(delay, min(outcome.retry_after, MAX_RETRY_AFTER))
        self.outbox.mark_failed(delivery.id, outcome.error, self.clock() + delay)
        log.warning(
            "webhook %s (%s, job %s) to %s: attempt %d failed (%s); next in %.0f s",
            delivery.id,
            delivery.event,
            delivery.job_id,
            redact(delivery.url),
            attempts,
            outcome.error,
            delay,
        )


# --- from a job to its events ---------------------------------------------------------------------------------------


class PlanView(Protocol):
    """What the payload reads of a job's plan (`plan.GenerationPlan`)."""

    @property
    def kind(self) -> str: ...

    @property
    def template(self) -> str | None: ...

    @property
    def template_version(self) -> int | None: ...

    @property
    def variables(self) -> Mapping[str, str]: ...

    @property
    def mode(self) -> str: ...

    @property
    def prompts(self) -> Sequence[str]: ...

    @property
    def negative_prompts(self) -> Sequence[str]: ...

    @property
    def seeds(self) -> Sequence[int]: ...


class JobView(Protocol):
    """What the payload reads of a job (`jobs.model.Job`)."""

    @property
    def id(self) -> str: ...

    @property
    def status(self) -> Any: ...  # a str, or a str-valued enum (JobStatus)

    @property
    def plan(self) -> PlanView: ...

    @property
    def images_done(self) -> int: ...

    @property
    def created_at(self) -> float: ...

    @property
    def finished_at(self) -> float | None: ...

    @property
    def error(self) -> str | None: ...

    @property
    def webhook(self) -> WebhookSpec | None: ...


def _status_text(status: Any) -> str:
    return str(getattr(status, "value", status))


MAX_LISTED_PROMPTS: Final = 20
"""Prompts listed in a payload at most: the spec advises bodies under ~20 kB; the job's route has them all."""


def job_payload(job: JobView, *, url_prefix: str = DEFAULT_URL_PREFIX) -> dict[str, Any]:
    """The `data` of a job's event: its id and status, the plan's summary and the URLs of its finished images,
    relative to the API's root (`url_prefix`), as `GET {url_prefix}/jobs/{id}` would name them."""
    plan = job.plan
    total = len(plan.prompts)
    done = job.images_done
    base = f"{url_prefix.rstrip('/')}/jobs/{job.id}"
    return {
        "id": job.id,
        "status": _status_text(job.status),
        "url": base,
        "kind": plan.kind,
        "created_at": iso_timestamp(job.created_at),
        "finished_at": None if job.finished_at is None else iso_timestamp(job.finished_at),
        "template": plan.template,
        "template_version": plan.template_version,
        "variables": dict(plan.variables),
        "mode": _status_text(plan.mode),
        "prompts": list(plan.prompts[:MAX_LISTED_PROMPTS]),
        "negative_prompts": list(plan.negative_prompts[:MAX_LISTED_PROMPTS]),
        "prompts_listed": min(total, MAX_LISTED_PROMPTS),
        "seeds": list(plan.seeds),
        "progress": {"images_done": done, "images_total": total, "fraction": done / total if total else 1.0},
        "error": job.error,
        "images": [f"{base}/images/{n}" for n in range(done)],
    }


@dataclass
class WebhookNotifier:
    """Turns a job's changes into deliveries: `notify(job, event)` stores the event if the job's webhook asked
    for it, and wakes the sender. `job.progress` is sent at most every `progress_every` seconds per job."""

    outbox: WebhookOutbox
    settings: Callable[[], WebhookSettings]
    sender: WebhookSender | None = None
    clock: Callable[[], float] = time.time
    url_prefix: str = DEFAULT_URL_PREFIX
    _last_progress: dict[str, float] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def notify(self, job: JobView, event: str) -> Delivery | None:
        """Enqueue `event` for `job`; None when its webhook did not ask for it (or it has none), when no webhook
        can ask for it (the runner tells of `job.started` too), or when a progress event comes sooner than
        `progress_every` after the last one."""
        webhook = job.webhook
        if webhook is None or event not in EVENTS or event not in wanted_events(webhook):
            return None
        now = self.clock()
        if event == JOB_PROGRESS and not self._progress_due(job.id, now):
            return None
        if event != JOB_PROGRESS:
            with self._lock:
                self._last_progress.pop(job.id, None)
        payload = job_payload(job, url_prefix=self.url_prefix)
        delivery = self.outbox.enqueue(job.id, event, webhook.url, webhook.secret or None, payload, now)
        if self.sender is not None:
            self.sender.wake()
        return delivery

    def __call__(self, job: JobView, event: str) -> None:
        """`notify` as the job runner's listener (`runner.Notify`), which wants nothing back."""
        self.notify(job, event)

    def notify_status(self, job: JobView) -> Delivery | None:
        """The event of the job's final status (succeeded, failed, cancelled); None for any other status."""
        event = FINAL_EVENTS.get(_status_text(job.status))
        return self.notify(job, event) if event is not None else None

    def _progress_due(self, job_id: str, now: float) -> bool:
        every = self.settings().progress_every
        with self._lock:
            last = self._last_progress.get(job_id)
            if last is not None and now - last < every:
                return False
            self._last_progress[job_id] = now
            return True
