"""What the WebUI's Settings say about webhooks: the default secret, the host allow-list, attempts, pace and timeout.
A frozen value, read afresh through a callable for each use, so that the sender and the notifier need no WebUI."""

from __future__ import annotations

from dataclasses import dataclass


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
