"""The durable outbox: each event is a row of `webhook_deliveries` (the jobs database), written when it happens and
sent later by the `WebhookSender`'s thread. So the generation thread never waits on somebody else's server, and a
delivery pending at a restart is sent after it. Each event keeps one `webhook-id` (`msg_…`) and one body across all
its retries, so a receiver can de-duplicate."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from sd_prompt_templates.db import Database
from sd_prompt_templates.jobs.webhooks.signing import envelope, new_message_id

PENDING: Final = "pending"
SENT: Final = "sent"
FAILED: Final = "failed"

_COLUMNS: Final = (
    "id, job_id, event, url, secret, body, attempts, next_attempt_at, status, last_error, created_at, sent_at"
)
_SELECT_DUE: Final = (
    f"SELECT {_COLUMNS} FROM webhook_deliveries WHERE status = ? AND next_attempt_at <= ? "
    "ORDER BY next_attempt_at LIMIT ?"
)
"""The pending deliveries due by a time, the longest waiting first; `due` and `claim` give it (PENDING, now, limit)."""


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
            rows = conn.execute(_SELECT_DUE, (PENDING, now, limit)).fetchall()
        return [Delivery.from_row(row) for row in rows]

    def claim(self, now: float, lease: float, limit: int = 1) -> list[Delivery]:
        """Like `due`, and pushes their next attempt `lease` seconds on in the same transaction: a second sender
        (another process on the file, an old thread not yet ended) does not send them too, and one that dies
        mid-attempt has them retried once the lease is over."""
        with self.database.write() as conn:
            rows = conn.execute(_SELECT_DUE, (PENDING, now, limit)).fetchall()
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
