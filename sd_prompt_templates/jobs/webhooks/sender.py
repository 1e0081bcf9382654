"""The sender: a daemon thread of its own that takes the outbox's due deliveries one at a time, checks each URL
again, signs and posts it, and records what came of it.

Retries: 2xx is success. Anything else — another status, a timeout, a refused connection, a redirect (never
followed) — is retried with exponential backoff and jitter (5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, 8 h…)
up to `max_attempts`, a `Retry-After` longer than that delay is honoured; then the delivery is `failed` with its
last error, and logged. `410 Gone` stops at once: the receiver asked for no more."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit, urlunsplit

from sd_prompt_templates.jobs.webhooks.addresses import Resolver, WebhookRefused, resolve_host, vet_url
from sd_prompt_templates.jobs.webhooks.outbox import Delivery, WebhookOutbox
from sd_prompt_templates.jobs.webhooks.pinned_http import OutgoingRequest, Post, Response, http_post
from sd_prompt_templates.jobs.webhooks.settings import WebhookSettings
from sd_prompt_templates.jobs.webhooks.signing import InvalidSecret, signed_headers

log = logging.getLogger(__name__)

RETRY_DELAYS: Final[tuple[float, ...]] = (5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800)
"""Seconds before the next attempt after the 1st, 2nd… failed one; the last repeats."""
JITTER: Final = 0.1  # ±10 %, so that receivers that failed together are not all retried in the same second
MAX_RETRY_AFTER: Final = 86400.0


def retry_delay(failed_attempts: int) -> float:
    """The base delay after `failed_attempts` failed attempts (1 or more)."""
    return RETRY_DELAYS[min(max(failed_attempts, 1), len(RETRY_DELAYS)) - 1]


def redact(url: str) -> str:
    """The URL for a log line: without its query, which may carry a token."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _named(delivery: Delivery) -> str:
    """A delivery as a log line names it: `webhook msg_… (job.failed, job 3f2a…)`."""
    return f"webhook {delivery.id} ({delivery.event}, job {delivery.job_id})"


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
            log.info("%s delivered to %s", _named(delivery), redact(delivery.url))
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
                "%s to %s failed for good after %d attempt(s): %s",
                _named(delivery),
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
            "%s to %s: attempt %d failed (%s); next in %.0f s",
            _named(delivery),
            redact(delivery.url),
            attempts,
            outcome.error,
            delay,
        )
