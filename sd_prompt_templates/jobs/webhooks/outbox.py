"""The durable outbox: each event is a row of `webhook_deliveries` (the jobs database), written when it happens and
sent later by the `WebhookSender`'s thread. So the generation thread never waits on somebody else's server, and a
delivery pending at a restart is sent after it. Each event keeps one `webhook-id` (`msg_…`) and one body across all
its retries, so a receiver can de-duplicate."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Final

import sqlalchemy as sa

from sd_prompt_templates.db import Database
from sd_prompt_templates.jobs.tables import WEBHOOK_DELIVERIES
from sd_prompt_templates.jobs.webhooks.signing import envelope, new_message_id

PENDING: Final = "pending"
SENT: Final = "sent"
FAILED: Final = "failed"

_D = WEBHOOK_DELIVERIES.c


_seq_lock = threading.Lock()
_last_seq = 0


def _next_seq() -> int:
    """Increasing in this process (the clock in nanoseconds, or one more than the last): deliveries written at the
    same `created_at` keep their order."""
    global _last_seq
    with _seq_lock:
        _last_seq = max(time.time_ns(), _last_seq + 1)
        return _last_seq


def _due(now: float, limit: int) -> sa.Select[Any]:
    """The pending deliveries due by `now`, the longest waiting first."""
    query = sa.select(WEBHOOK_DELIVERIES).where(_D.status == PENDING, _D.next_attempt_at <= now)
    return query.order_by(_D.next_attempt_at).limit(limit)


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
    def from_row(cls, row: sa.RowMapping) -> Delivery:
        return cls(**{f.name: row[f.name] for f in fields(cls)})

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
            row = {f.name: getattr(delivery, f.name) for f in fields(delivery)}
            conn.execute(WEBHOOK_DELIVERIES.insert().values(**row, seq=_next_seq()))
        return delivery

    def get(self, delivery_id: str) -> Delivery | None:
        with self.database.read() as conn:
            row = conn.execute(sa.select(WEBHOOK_DELIVERIES).where(_D.id == delivery_id)).mappings().first()
        return Delivery.from_row(row) if row else None

    def for_job(self, job_id: str) -> list[Delivery]:
        """A job's deliveries, oldest first."""
        query = sa.select(WEBHOOK_DELIVERIES).where(_D.job_id == job_id).order_by(_D.created_at, _D.seq)
        with self.database.read() as conn:
            rows = conn.execute(query).mappings().all()
        return [Delivery.from_row(row) for row in rows]

    def due(self, now: float, limit: int = 10) -> list[Delivery]:
        """The pending deliveries whose next attempt is due, the longest waiting first."""
        with self.database.read() as conn:
            rows = conn.execute(_due(now, limit)).mappings().all()
        return [Delivery.from_row(row) for row in rows]

    def claim(self, now: float, lease: float, limit: int = 1) -> list[Delivery]:
        """Like `due`, and pushes their next attempt `lease` seconds on in the same transaction: a second sender
        (another process or WebUI on the database, an old thread not yet ended) does not send them too, and one
        that dies mid-attempt has them retried once the lease is over."""
        with self.database.write() as conn:
            rows = conn.execute(_due(now, limit)).mappings().all()
            if rows:
                ids = [row["id"] for row in rows]
                conn.execute(WEBHOOK_DELIVERIES.update().where(_D.id.in_(ids)).values(next_attempt_at=now + lease))
        return [Delivery.from_row(row) for row in rows]

    def next_due(self) -> float | None:
        """When the earliest pending delivery is due; None when none is pending."""
        with self.database.read() as conn:
            due = conn.scalar(sa.select(sa.func.min(_D.next_attempt_at)).where(_D.status == PENDING))
        return None if due is None else float(due)

    def mark_sent(self, delivery_id: str, now: float) -> None:
        """The receiver took it (2xx): counted as an attempt, done."""
        with self.database.write() as conn:
            conn.execute(
                WEBHOOK_DELIVERIES.update()
                .where(_D.id == delivery_id, _D.status == PENDING)
                .values(status=SENT, attempts=_D.attempts + 1, sent_at=now, last_error=None)
            )

    def mark_failed(self, delivery_id: str, error: str, next_attempt_at: float | None) -> None:
        """An attempt failed with `error`: try again at `next_attempt_at`, or, when None, give up (`failed`)."""
        status = PENDING if next_attempt_at is not None else FAILED
        with self.database.write() as conn:
            conn.execute(
                WEBHOOK_DELIVERIES.update()
                .where(_D.id == delivery_id, _D.status == PENDING)
                .values(
                    attempts=_D.attempts + 1,
                    last_error=error,
                    status=status,
                    next_attempt_at=_D.next_attempt_at if next_attempt_at is None else next_attempt_at,
                )
            )

    def delete_for_job(self, job_id: str) -> int:
        """Forget a job's deliveries (when the job itself is deleted or pruned); how many there were."""
        with self.database.write() as conn:
            return conn.execute(WEBHOOK_DELIVERIES.delete().where(_D.job_id == job_id)).rowcount
