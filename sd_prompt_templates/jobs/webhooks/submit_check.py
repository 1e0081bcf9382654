"""The verdict on a job's webhook when the job is submitted: its events, its secret (or the default one) and its URL
together, so that the API answers 422 at once rather than accept a job whose callbacks can't go."""

from __future__ import annotations

from sd_prompt_templates.jobs.webhooks.addresses import Resolver, check_webhook_url, resolve_host
from sd_prompt_templates.jobs.webhooks.events import EVENTS, WebhookSpec, wanted_events
from sd_prompt_templates.jobs.webhooks.settings import WebhookSettings
from sd_prompt_templates.jobs.webhooks.signing import secret_problem


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
