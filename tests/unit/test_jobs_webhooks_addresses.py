"""The URL rule (SSRF): what would make the WebUI a proxy into its own network is refused, at submit and again
at each attempt; the allow-list; the verdict on a job's webhook at submit; the settings it reads."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from sd_prompt_templates.jobs import webhooks as wh
from tests.unit.test_jobs_webhooks_fakes import (
    OPEN,
    PUBLIC,
    SECRET,
    Hook,
    fake_dns,
)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://hooks.example.com/x", "http or https, not ftp"),
        ("file:///etc/passwd", "http or https"),
        ("hooks.example.com/x", "http or https"),
        ("https://user:pw@hooks.example.com/x", "credentials"),
        ("https:///x", "no host"),
        ("https://hooks.example.com/a b", "spaces or control characters"),
        ("https://hooks.example.com/\r\nX-Injected: 1", "spaces or control characters"),
        ("https://hooks.example.com:99999/", "malformed"),
        ("", "empty"),
        ("https://hooks.example.com/" + "a" * 3000, "longer than"),
    ],
)
def test_malformed_or_non_http_urls_are_refused(url: str, reason: str) -> None:
    assert reason in (wh.check_webhook_url(url, OPEN, resolve=fake_dns({"hooks.example.com": [PUBLIC]})) or "")


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.1.2.3",
        "10.0.0.5",
        "172.16.0.1",
        "192.168.1.10",
        "169.254.169.254",  # the clouds' metadata service
        "100.64.0.1",  # shared address space (carrier NAT)
        "0.0.0.0",
        "224.0.0.1",
        "[::1]",
        "[fe80::1]",
        "[fc00::1]",
        "[::ffff:127.0.0.1]",  # IPv4-mapped
        "[2002:7f00:1::]",  # 6to4 of 127.0.0.1
        "[64:ff9b::a9fe:a9fe]",  # NAT64 of 169.254.169.254
    ],
)
def test_with_an_empty_allow_list_loopback_private_and_link_local_addresses_are_refused(host: str) -> None:
    reason = wh.check_webhook_url(f"http://{host}:8000/hook", OPEN)
    assert reason is not None and "allow-list" in reason


def test_a_name_that_resolves_to_a_private_address_is_refused() -> None:
    dns = fake_dns({"intranet.example.com": ["10.1.2.3"], "mixed.example.com": [PUBLIC, "127.0.0.1"]})
    assert "10.1.2.3" in (wh.check_webhook_url("https://intranet.example.com/", OPEN, resolve=dns) or "")
    assert "127.0.0.1" in (wh.check_webhook_url("https://mixed.example.com/", OPEN, resolve=dns) or "")
    assert wh.check_webhook_url("http://localhost:7860/", OPEN) is not None  # the real resolver: /etc/hosts


def test_with_an_empty_allow_list_a_public_host_is_allowed() -> None:
    dns = fake_dns({"hooks.example.com": [PUBLIC, "2606:4700::1"]})
    assert wh.check_webhook_url("https://hooks.example.com/x?token=1", OPEN, resolve=dns) is None
    assert wh.check_webhook_url(f"http://{PUBLIC}/x", OPEN) is None


def test_a_host_that_does_not_resolve_is_refused_for_now() -> None:
    with pytest.raises(wh.WebhookRefused, match="cannot resolve") as refused:
        wh.vet_url("https://gone.example.com/", OPEN, resolve=fake_dns({}))
    assert refused.value.permanent is False  # at send time: retried, DNS may come back


@pytest.mark.parametrize(
    ("allowed", "url", "allowed_or_not"),
    [
        (("127.0.0.1",), "http://127.0.0.1:9000/hook", True),
        (("localhost",), "http://localhost:9000/hook", True),
        (("LocalHost.",), "http://localhost:9000/hook", True),
        (("[::1]",), "http://[::1]:9000/hook", True),
        (("192.168.1.0/24",), "http://192.168.1.20/hook", True),
        (("192.168.1.0/24",), "http://192.168.2.20/hook", False),
        (("intranet.example.com",), "https://intranet.example.com/hook", True),  # listed: private is fine
        (("*.example.com",), "https://a.b.example.com/hook", True),
        (("*.example.com",), "https://example.com/hook", False),  # subdomains only
        (("*.example.com",), "https://evilexample.com/hook", False),
        (("hooks.example.com",), "https://public.example.org/hook", False),  # a list admits only itself
        (("hooks.example.com", "*"), "https://public.example.org/hook", True),  # '*': and any public host
        (("hooks.example.com", "*"), "http://10.9.9.9/hook", False),  # ... never a private one
    ],
)
def test_the_allow_list(allowed: tuple[str, ...], url: str, allowed_or_not: bool) -> None:
    dns = fake_dns(
        {
            "localhost": ["127.0.0.1"],
            "intranet.example.com": ["10.0.0.8"],
            "a.b.example.com": [PUBLIC],
            "example.com": [PUBLIC],
            "evilexample.com": [PUBLIC],
            "public.example.org": [PUBLIC],
        }
    )
    settings = wh.WebhookSettings(secret=SECRET, allowed_hosts=allowed)
    reason = wh.check_webhook_url(url, settings, resolve=dns)
    assert (reason is None) is allowed_or_not, reason


def test_parse_allowed_hosts() -> None:
    assert wh.parse_allowed_hosts(" 127.0.0.1, hooks.example.com\n*.example.org ,,") == (
        "127.0.0.1",
        "hooks.example.com",
        "*.example.org",
    )


def test_check_webhook_at_submit() -> None:
    dns = fake_dns({"hooks.example.com": [PUBLIC]})
    url = "https://hooks.example.com/x"
    no_secret = wh.WebhookSettings()
    reason = wh.check_webhook(Hook(url), no_secret, resolve=dns)
    assert reason is not None and "signing secret" in reason and "Settings" in reason
    assert wh.check_webhook(Hook(url, secret=SECRET), no_secret, resolve=dns) is None
    assert wh.check_webhook(Hook(url), OPEN, resolve=dns) is None  # the default secret
    assert "the webhook's secret is invalid" in (wh.check_webhook(Hook(url, "oops"), OPEN, resolve=dns) or "")
    bad_default = wh.WebhookSettings(secret="whsec_short")
    assert "the default webhook secret in Settings" in (wh.check_webhook(Hook(url), bad_default, resolve=dns) or "")
    assert "job.done" in (wh.check_webhook(Hook(url, events=("job.done",)), OPEN, resolve=dns) or "")
    assert "http or https" in (wh.check_webhook(Hook("gopher://x/"), OPEN, resolve=dns) or "")


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        wh.WebhookSettings(max_attempts=0)
    with pytest.raises(ValueError, match="progress_every"):
        wh.WebhookSettings(progress_every=-1)
    assert wh.WebhookSettings(secret="").default_secret is None


def test_types_used_by_the_rule_are_the_callables_documented() -> None:
    resolve: Callable[[str, int], Sequence[str]] = wh.resolve_host
    assert "127.0.0.1" in resolve("localhost", 80) or "::1" in resolve("localhost", 80)
