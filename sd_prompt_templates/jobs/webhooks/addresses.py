"""The URL rule (SSRF): which URLs a webhook may call, and at which addresses.

A webhook URL makes this server send a request wherever a caller says, so: only http/https; with an empty allow-list
any host whose every address is public is allowed, and loopback, private, link-local, shared, reserved and multicast
addresses are refused; a host listed in the allow-list is allowed whatever it resolves to; a non-empty allow-list
admits only what it lists (`*` in it: any public host too). The URL is checked when the job is submitted and again
before each attempt (DNS can change), and `vet_url` hands back the very addresses it checked, for the request to
connect to without resolving the name a second time (`pinned_http`: no DNS rebinding, no environment proxy).

`split_url` is the one rule for a URL's form: `jobs.model` checks a job's webhook URL with it too."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from sd_prompt_templates.jobs.webhooks.settings import WebhookSettings

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


def split_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL the rule can consider at all; WebhookRefused otherwise. Its form only: no DNS,
    no allow-list."""
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


def url_problem(url: str) -> str | None:
    """Why the URL's form alone refuses it as a webhook (`split_url`), or None; whatever its host resolves to."""
    try:
        split_url(url)
    except WebhookRefused as refused:
        return refused.reason
    return None


def vet_url(url: str, settings: WebhookSettings, *, resolve: Resolver = resolve_host) -> Target:
    """The URL as a `Target` if the rule allows it (the module's docstring has the rule); WebhookRefused with the
    reason otherwise. Resolves the host (an IP literal is its own address)."""
    _, host, port = split_url(url)
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
