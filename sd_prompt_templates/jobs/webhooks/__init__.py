"""Webhooks for jobs, per the Standard Webhooks specification (https://www.standardwebhooks.com/): a signed POST
to the caller's URL when a job succeeds, fails or is cancelled (and on progress, if asked).

The way an event goes, and the module that says why it is built the way it is:
- `notify`: the job runner's listener turns a job's change into an event (`payload` is its `data`)...
- `outbox`: ... stored as a row of `webhook_deliveries` in the jobs database (durable, one id across retries)...
- `sender`: ... which a thread of its own sends later, retried with backoff, `Retry-After` honoured...
- `addresses`: ... to a URL the SSRF rule allows, checked at submit and again before each attempt...
- `pinned_http`: ... connecting to the very addresses checked, never resolving the name a second time...
- `signing`: ... signed as the spec says, with the standard library.
- `events` names what a webhook may ask for; `submit_check` is the verdict on a job's webhook at submit;
  `settings` is what the WebUI's Settings say (`WebhookSettings`).

Every public name of these modules is importable from here, as it was when they were one module.
"""

from sd_prompt_templates.jobs.webhooks.addresses import (
    MAX_URL_LENGTH,
    Resolver,
    Target,
    WebhookRefused,
    check_webhook_url,
    host_listed,
    is_public_address,
    resolve_host,
    vet_url,
)
from sd_prompt_templates.jobs.webhooks.events import (
    DEFAULT_EVENTS,
    EVENTS,
    FINAL_EVENTS,
    JOB_CANCELLED,
    JOB_FAILED,
    JOB_PROGRESS,
    JOB_SUCCEEDED,
    WebhookSpec,
    wanted_events,
)
from sd_prompt_templates.jobs.webhooks.notify import WebhookNotifier
from sd_prompt_templates.jobs.webhooks.outbox import FAILED, PENDING, SENT, Delivery, WebhookOutbox
from sd_prompt_templates.jobs.webhooks.payload import (
    DEFAULT_URL_PREFIX,
    MAX_LISTED_PROMPTS,
    JobView,
    PlanView,
    job_payload,
)
from sd_prompt_templates.jobs.webhooks.pinned_http import (
    DEADLINE_FACTOR,
    OutgoingRequest,
    Post,
    Response,
    http_post,
    parse_retry_after,
)
from sd_prompt_templates.jobs.webhooks.sender import (
    JITTER,
    MAX_RETRY_AFTER,
    RETRY_DELAYS,
    Outcome,
    WebhookSender,
    redact,
    retry_delay,
)
from sd_prompt_templates.jobs.webhooks.settings import WebhookSettings, parse_allowed_hosts
from sd_prompt_templates.jobs.webhooks.signing import (
    SECRET_BYTES,
    SECRET_PREFIX,
    InvalidSecret,
    envelope,
    iso_timestamp,
    new_message_id,
    new_secret,
    secret_key,
    secret_problem,
    sign,
    signed_headers,
)
from sd_prompt_templates.jobs.webhooks.submit_check import check_webhook

__all__ = [
    "DEADLINE_FACTOR",
    "DEFAULT_EVENTS",
    "DEFAULT_URL_PREFIX",
    "EVENTS",
    "FAILED",
    "FINAL_EVENTS",
    "JITTER",
    "JOB_CANCELLED",
    "JOB_FAILED",
    "JOB_PROGRESS",
    "JOB_SUCCEEDED",
    "MAX_LISTED_PROMPTS",
    "MAX_RETRY_AFTER",
    "MAX_URL_LENGTH",
    "PENDING",
    "RETRY_DELAYS",
    "SECRET_BYTES",
    "SECRET_PREFIX",
    "SENT",
    "Delivery",
    "InvalidSecret",
    "JobView",
    "OutgoingRequest",
    "Outcome",
    "PlanView",
    "Post",
    "Resolver",
    "Response",
    "Target",
    "WebhookNotifier",
    "WebhookOutbox",
    "WebhookRefused",
    "WebhookSender",
    "WebhookSettings",
    "WebhookSpec",
    "check_webhook",
    "check_webhook_url",
    "envelope",
    "host_listed",
    "http_post",
    "is_public_address",
    "iso_timestamp",
    "job_payload",
    "new_message_id",
    "new_secret",
    "parse_allowed_hosts",
    "parse_retry_after",
    "redact",
    "resolve_host",
    "retry_delay",
    "secret_key",
    "secret_problem",
    "sign",
    "signed_headers",
    "vet_url",
    "wanted_events",
]
