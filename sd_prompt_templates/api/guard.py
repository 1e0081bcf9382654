"""The route class of every Prompt Templates route: the checks that must come before FastAPI reads the body.

1. A request that changes or generates something (any method but GET/HEAD/OPTIONS) from a web page of another
   site is refused with 403 (deps.check_origin), before its body is even parsed.
2. --api-auth (401).
3. A JSON body holding text with a lone surrogate, nesting deeper than 64 levels, an integer beyond 64 bits, or
   NaN/Infinity, is refused with 422 naming where (text that cannot be encoded, or nesting that cannot be written
   back, would otherwise be stored and then fail every answer that holds it). Such numbers
   are of no use to any field, SQLite refuses them, JSON has no NaN (Python reads it, and would then fail to write
   the answer), and Python refuses to read or write ints of over 4,300 digits. Without this check they end in 500s
   (pydantic 1 raises OverflowError turning a huge int into a float) or in FastAPI's "error parsing the body".
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Coroutine
from email.message import Message
from typing import Any

import sqlalchemy as sa
from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute

from sd_prompt_templates.api.deps import check_auth, check_origin, get_context
from sd_prompt_templates.db import DatabaseUnavailable
from sd_prompt_templates.library.records import INT64_MAX, INT64_MIN

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_DEPTH = 64  # JSON nesting no field needs: deeper values could be stored, then fail to be written back
LONE_SURROGATE = "holds a lone surrogate (\\ud800-\\udfff without its pair): it is not text any file can hold"
MAX_PROBLEMS = 20
_MAX_INT_CHARS = len(str(INT64_MIN))  # '-9223372036854775808'


class GuardedRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        writes = bool(set(self.methods or ()) - SAFE_METHODS)

        async def guarded(request: Request) -> Response:
            context = get_context(request)
            if writes:
                check_origin(request, context)
            check_auth(request, context)
            if writes:
                problems = await body_number_problems(request)
                if problems:
                    raise HTTPException(status_code=422, detail=problems)
            try:
                return await handler(request)
            except (DatabaseUnavailable, sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
                raise HTTPException(status_code=503, detail=unreachable(exc)) from None

        return guarded


def unreachable(exc: Exception) -> str:
    """The answer when the database is away (a server down, a SQLite file locked for too long): 503, never a 500."""
    if isinstance(exc, DatabaseUnavailable):
        return str(exc)
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"the database is not available right now: {reason[0] if reason else type(exc).__name__}"


class _Refused:
    """A number of the body that is refused, kept as its text (never converted to an int)."""

    def __init__(self, text: str, reason: str) -> None:
        self.text, self.reason = text, reason


def _parse_int(text: str) -> int | _Refused:
    if len(text) > _MAX_INT_CHARS:
        return _Refused(text, "too large")
    value = int(text)
    return value if INT64_MIN <= value <= INT64_MAX else _Refused(text, "too large")


def _parse_float(text: str) -> float | _Refused:
    value = float(text)
    return value if math.isfinite(value) else _Refused(text, "too large")


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _parse_constant(text: str) -> _Refused:
    return _Refused(text, "not a number")


def _is_json(request: Request) -> bool:
    """Whether FastAPI reads this body as JSON: no content type, or application/json or application/*+json."""
    content_type = request.headers.get("content-type")
    if not content_type:
        return True
    message = Message()
    message["content-type"] = content_type
    main, sub = message.get_content_maintype(), message.get_content_subtype()
    return main == "application" and (sub == "json" or sub.endswith("+json"))


async def body_number_problems(request: Request) -> list[dict[str, Any]]:
    """FastAPI's 422 items for the numbers of a JSON body that no route takes; [] when there are none, or when the
    body is not JSON at all (FastAPI then says so itself)."""
    if not _is_json(request):
        return []
    body = await request.body()  # Starlette keeps it: FastAPI reads the same bytes afterwards
    if not body:
        return []
    try:
        data = json.loads(body, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant)
    except RecursionError:
        return [{"loc": ["body"], "msg": "is nested too deeply", "type": "value_error.nesting"}]
    except UnicodeDecodeError as exc:
        return [
            {"loc": ["body"], "msg": f"is not UTF-8 text ({exc.reason} at byte {exc.start})", "type": "value_error"}
        ]
    except ValueError:  # not JSON: FastAPI answers it as usual
        return []
    if not isinstance(data, dict):  # every body here is an object (pydantic 1 would take [["prompt", "a"]] as one)
        return [{"loc": ["body"], "msg": "must be a JSON object", "type": "type_error.dict"}]
    problems: list[dict[str, Any]] = []
    stack: list[tuple[list[Any], Any]] = [([], data)]
    while stack and len(problems) < MAX_PROBLEMS:
        path, item = stack.pop()
        if len(path) > MAX_DEPTH:
            problems.append(
                {
                    "loc": ["body", *path[:MAX_DEPTH]],
                    "msg": f"is nested deeper than {MAX_DEPTH} levels",
                    "type": "value_error.nesting",
                }
            )
            continue
        if isinstance(item, str) and not _encodable(item):
            problems.append({"loc": ["body", *path], "msg": LONE_SURROGATE, "type": "value_error.text"})
            continue
        if isinstance(item, dict):
            for key in item:
                if not _encodable(key):
                    problems.append(
                        {"loc": ["body", *path], "msg": f"a key: {LONE_SURROGATE}", "type": "value_error.text"}
                    )
        if isinstance(item, _Refused):
            if item.reason == "not a number":
                msg = f"{item.text} is not a number JSON allows"
            elif "." in item.text or "e" in item.text.lower():
                msg = "is too large: numbers here are finite floating-point numbers"
            else:
                msg = f"is too large: integers here are between {INT64_MIN} and {INT64_MAX}"
            problems.append({"loc": ["body", *path], "msg": msg, "type": "value_error.number"})
        elif isinstance(item, dict):
            stack.extend(([*path, k], v) for k, v in reversed(list(item.items())))
        elif isinstance(item, list):
            stack.extend(([*path, i], v) for i, v in reversed(list(enumerate(item))))
    return problems
