"""Dependencies of every route. The WebUI glue puts a `ApiContext` on `app.state`; tests use
`app.dependency_overrides` or a context of their own."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from sd_prompt_templates.service import PromptService

STATE_KEY = "prompt_templates"
_basic = HTTPBasic(auto_error=False)


@dataclass
class ApiContext:
    service: PromptService
    credentials: Callable[[], str | None]  # the WebUI's --api-auth, "user:pass[,user2:pass2]", read per request


def get_context(request: Request) -> ApiContext:
    context = getattr(request.app.state, STATE_KEY, None)
    if context is None:
        raise HTTPException(status_code=503, detail="Prompt Templates is not set up on this server")
    return context


def get_service(context: ApiContext = Depends(get_context)) -> PromptService:
    return context.service


def require_auth(
    context: ApiContext = Depends(get_context),
    given: HTTPBasicCredentials | None = Depends(_basic),
) -> None:
    """Enforce the WebUI's --api-auth on our routes: the WebUI protects only the routes it adds itself."""
    allowed = parse_credentials(context.credentials())
    if not allowed:
        return
    if given is not None:
        user, password = given.username.encode(), given.password.encode()
        matches = [
            secrets.compare_digest(user, u.encode()) & secrets.compare_digest(password, p.encode()) for u, p in allowed
        ]
        if any(matches):
            return
    raise HTTPException(status_code=401, detail="Incorrect username or password", headers={"WWW-Authenticate": "Basic"})


def parse_credentials(value: str | None) -> list[tuple[str, str]]:
    pairs = []
    for item in (value or "").split(","):
        user, sep, password = item.strip().partition(":")
        if sep and user:
            pairs.append((user, password))
    return pairs
