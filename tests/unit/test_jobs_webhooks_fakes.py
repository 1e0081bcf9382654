"""What the webhook tests share: the outbox table, a fake DNS, a fake clock, a fake `post` that answers from a
script, a receiver's verification by the `standardwebhooks` package itself, and jobs the notifier can read.

No test waits on the clock: time is a fake clock where retries matter, and threads are awaited through events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from standardwebhooks import Webhook as Verifier

from sd_prompt_templates.db import Database
from sd_prompt_templates.jobs import webhooks as wh
from sd_prompt_templates.jobs.tables import SCHEMA
from sd_prompt_templates.plan import GenerationPlan

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the spec's libraries' own test secret (24 bytes)
PUBLIC = "93.184.215.14"  # a public address (example.com's): only ever "resolved" to or handed to a fake post
NOW = 1_700_000_000.0
WAIT = 30.0  # a guard against a hung test, never a measure: events end the waits


def database(path: Path) -> Database:
    return Database(path, SCHEMA)  # the jobs' database, where the outbox lives


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


OPEN = wh.WebhookSettings(secret=SECRET)  # any public host
LOCAL = wh.WebhookSettings(secret=SECRET, allowed_hosts=("127.0.0.1",))


@dataclass(frozen=True)
class Hook:
    """A job's webhook, as the notifier and the submit check read it (`WebhookSpec`)."""

    url: str
    secret: str | None = None
    events: tuple[str, ...] | None = None


@dataclass(frozen=True)
class FakeJob:
    """A job, as the payload reads it (`JobView`)."""

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


def sender_for(
    outbox: wh.WebhookOutbox, posts: Posts, clock: Clock, settings: wh.WebhookSettings = OPEN, **kwargs: Any
) -> wh.WebhookSender:
    return wh.WebhookSender(outbox, settings=lambda: settings, post=posts, clock=clock, **kwargs)
