"""What every route checks, and how it finds the service. The WebUI glue puts an `ApiContext` on `app.state`; tests
use a context of their own (or `app.dependency_overrides`).

The checks run in `guard.GuardedRoute`, before FastAPI reads the body: a cross-site write is refused (403), then
`--api-auth` is enforced (401). The WebUI's settings are read through the context at each request."""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request

from sd_prompt_templates.service import PromptService

STATE_KEY = "prompt_templates"
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _none() -> str | None:
    return None


@dataclass
class ApiContext:
    service: PromptService
    credentials: Callable[[], str | None]  # the WebUI's --api-auth, "user:pass[,user2:pass2]", read per request
    cors_origins: Callable[[], str | None] = _none  # --cors-allow-origins, "https://a.example,http://b:8080"
    cors_origin_regex: Callable[[], str | None] = _none  # --cors-allow-origins-regex


def get_context(request: Request) -> ApiContext:
    context: ApiContext | None = getattr(request.app.state, STATE_KEY, None)
    if context is None:
        raise HTTPException(status_code=503, detail="Prompt Templates is not set up on this server")
    return context


def get_service(context: ApiContext = Depends(get_context)) -> PromptService:
    return context.service


# Reusable dependencies, as the routes' parameter defaults: `service: PromptService = ServiceDep`. (FastAPI 0.94,
# A1111's, has no `Annotated` dependencies.)
ServiceDep = Depends(get_service)


# -- --api-auth -----------------------------------------------------------------------------------------------------
def auth_enabled(context: ApiContext) -> bool:
    return bool(parse_credentials(context.credentials()))


def check_auth(request: Request, context: ApiContext) -> None:
    """Enforce the WebUI's --api-auth on our routes: the WebUI protects only the routes it adds itself. The
    Authorization header is read here rather than through fastapi.security.HTTPBasic, so that the OpenAPI document
    declares HTTP Basic only when --api-auth is on (see main.install_openapi)."""
    allowed = parse_credentials(context.credentials())
    if not allowed:
        return
    given = basic_credentials(request.headers.get("authorization"))
    if given is not None:
        user, password = given[0].encode(), given[1].encode()
        matches = [
            secrets.compare_digest(user, u.encode()) & secrets.compare_digest(password, p.encode()) for u, p in allowed
        ]
        if any(matches):
            return
    raise HTTPException(status_code=401, detail="Incorrect username or password", headers={"WWW-Authenticate": "Basic"})


def require_auth(request: Request, context: ApiContext = Depends(get_context)) -> None:
    """check_auth as a dependency, for routes outside the guarded router."""
    check_auth(request, context)


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    scheme, _, param = (header or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(param.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def parse_credentials(value: str | None) -> list[tuple[str, str]]:
    pairs = []
    for item in (value or "").split(","):
        user, sep, password = item.strip().partition(":")
        if sep and user:
            pairs.append((user, password))
    return pairs


# -- cross-site requests ----------------------------------------------------------------------------------------------
def check_origin(request: Request, context: ApiContext) -> None:
    """Refuse a request that changes or generates something when a web page of another site sent it.

    A page on any site can make the browser POST to a WebUI on localhost without a CORS preflight (a body without a
    content type, as `fetch(url, {method: "POST", body: blob})` sends it). Browsers name the page's origin in the
    `Origin` header of every such request; clients that are not browsers (requests, curl, webuiapi) send none and
    are not affected. Allowed: no Origin, this server's own origin (scheme, host and port of the request's Host, the
    page the WebUI serves), and the origins the WebUI allows with --cors-allow-origins (`*`: any) or
    --cors-allow-origins-regex. `Origin: null` (sandboxed frames, local files, redirects) is foreign unless "null" is
    listed in --cors-allow-origins."""
    origin = request.headers.get("origin")
    if origin is None or origin_allowed(origin, request, context):
        return
    raise HTTPException(
        status_code=403,
        detail=(
            f"cross-site request refused: Origin '{origin}' is neither this server's own origin "
            f"({own_origin(request)}) nor allowed by the WebUI's --cors-allow-origins or --cors-allow-origins-regex. "
            "A web page of another site may not change templates or generate images here; a script or program "
            "(requests, curl) sends no Origin header and is not affected."
        ),
    )


def origin_allowed(origin: str, request: Request, context: ApiContext) -> bool:
    text = origin.strip()
    if text.lower() == "null":
        return "null" in _listed(context)
    if _same_origin(text, request):
        return True
    listed = _listed(context)
    if "*" in listed or text.rstrip("/").lower() in listed:
        return True
    pattern = context.cors_origin_regex()
    if pattern:
        try:
            return re.fullmatch(pattern, text) is not None  # as Starlette's CORSMiddleware matches it
        except re.error:
            return False
    return False


def own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host') or request.url.netloc}"


def _listed(context: ApiContext) -> set[str]:
    return {o.strip().rstrip("/").lower() for o in (context.cors_origins() or "").split(",") if o.strip()}


def _same_origin(origin: str, request: Request) -> bool:
    mine, theirs = _origin_key(own_origin(request)), _origin_key(origin)
    return mine is not None and mine == theirs


def _origin_key(url: str) -> tuple[str, str, int | None] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if not scheme or not host or parts.path not in ("", "/") or parts.query or parts.username is not None:
        return None
    return scheme, host, port if port is not None else DEFAULT_PORTS.get(scheme)
