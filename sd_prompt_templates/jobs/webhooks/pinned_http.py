"""One attempt on the wire: a POST with the standard library to the addresses the URL rule checked (`addresses`),
never to a second lookup of the name — a DNS answer that changed in between (rebinding) can't send it inside. So
environment proxies are not used, and a redirect is never followed (the spec counts a 3xx as a failure). The whole
exchange has a deadline, not just each read. `post` functions take an `OutgoingRequest` and give a `Response`; the
tests put a fake one in the sender's place."""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Final
from urllib.parse import urlsplit, urlunsplit


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
