"""A small HTTP client for the real-WebUI suite: the standard library only, JSON in and out."""

from __future__ import annotations

import base64
import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

PREFIX = "/prompt-templates/v1"


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


class WebUI:
    def __init__(self, url: str, auth: tuple[str, str] | None) -> None:
        self.url = url
        self.auth = auth
        self._cache: dict[str, Any] = {}

    def sdapi_request_fields(self, kind: str = "txt2img") -> set[str] | None:
        """The fields of the WebUI's own /sdapi/v1/{kind} request model, from its /openapi.json (the request body's
        `$ref`, e.g. A1111's StableDiffusionProcessingTxt2Img, SD.Next's ReqTxt2Img); None if it serves no schema."""
        key = f"fields-{kind}"
        if key not in self._cache:
            fields = None
            schema = self.call("GET", "/openapi.json")
            if schema.status == 200 and isinstance(schema.body, dict):
                try:
                    post = schema.body["paths"][f"/sdapi/v1/{kind}"]["post"]
                    ref = post["requestBody"]["content"]["application/json"]["schema"]
                    while "$ref" in ref:
                        ref = schema.body["components"]["schemas"][ref["$ref"].rsplit("/", 1)[-1]]
                    fields = set(ref["properties"])
                except (KeyError, TypeError):
                    fields = None
            self._cache[key] = fields
        return self._cache[key]

    def probe(self, key: str, method: str, path: str, body: Any) -> Reply:
        """One request about what the WebUI itself does, made once per session."""
        if key not in self._cache:
            self._cache[key] = self.call(method, path, body)
        return self._cache[key]

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        auth: Any = "default",
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 600,
    ) -> Reply:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if body is not None and raw is None:
            request.add_header("Content-Type", "application/json")
        credentials = self.auth if auth == "default" else auth
        if credentials:
            token = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return Reply(response.status, _decode(response.read()), dict(response.headers))
        except urllib.error.HTTPError as error:
            return Reply(error.code, _decode(error.read()), dict(error.headers))

    def get_bytes(self, path: str) -> tuple[int, bytes]:
        """GET a binary answer (an image, a zip): its status and bytes."""
        request = urllib.request.Request(self.url + path)
        if self.auth:
            request.add_header("Authorization", "Basic " + base64.b64encode(":".join(self.auth).encode()).decode())
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def post_without_content_type(self, path: str, data: bytes) -> tuple[int, bytes]:
        """What `requests.post(url, data=json.dumps(payload))` sends: a body and no Content-Type header."""
        parts = urllib.parse.urlsplit(self.url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)
        headers = {}
        if self.auth:
            headers["Authorization"] = "Basic " + base64.b64encode(":".join(self.auth).encode()).decode()
        connection.request("POST", parts.path + path, body=data, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()

    def ours(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Reply:
        return self.call(method, PREFIX + path, body, **kwargs)

    def login_cookie(self) -> str | None:
        """The page's login, as its form does it (POST /login, form-encoded: Gradio's route, which SD.Next's login
        form posts to): the `Cookie` header that then opens the page; None when the page needs no login, has no
        login route, or refuses the credentials."""
        if "login_cookie" not in self._cache:
            cookie = None
            if self.auth and self.call("GET", "/login_check", auth=None).status == 401:
                form = urllib.parse.urlencode({"username": self.auth[0], "password": self.auth[1]}).encode()
                request = urllib.request.Request(self.url + "/login", data=form, method="POST")
                request.add_header("Content-Type", "application/x-www-form-urlencoded")
                try:
                    with urllib.request.urlopen(request, timeout=60) as response:
                        jar = [c.split(";", 1)[0] for c in response.headers.get_all("Set-Cookie") or []]
                        cookie = "; ".join(c for c in jar if c.startswith("access-token")) or None
                except urllib.error.HTTPError:
                    cookie = None
            self._cache["login_cookie"] = cookie
        return self._cache["login_cookie"]

    def settings(self) -> dict[str, Any] | None:
        """The Settings page's values by key, as the page shows them; None without a page (--nowebui).
        (/sdapi/v1/options leaves out extensions' settings: its model is built before extensions register any.)
        A page behind a login (SD.Next's --auth: /config answers 401 even to Basic credentials) is read logged in."""
        reply = self.call("GET", "/config", auth=None)
        if reply.status == 401 and self.login_cookie():
            reply = self.call("GET", "/config", auth=None, headers={"Cookie": self.login_cookie() or ""})
            if reply.status == 401:  # a login to a WebUI since restarted (the kill test): it forgot it; log in again
                self._cache.pop("login_cookie", None)
                if self.login_cookie():
                    reply = self.call("GET", "/config", auth=None, headers={"Cookie": self.login_cookie() or ""})
        if reply.status != 200 or not isinstance(reply.body, dict):
            return None
        prefix = "setting_"
        return {
            props["elem_id"][len(prefix) :]: props.get("value")
            for props in (c.get("props") or {} for c in reply.body.get("components", []))
            if str(props.get("elem_id") or "").startswith(prefix)
        }


def _decode(data: bytes) -> Any:
    try:
        return json.loads(data) if data else None
    except json.JSONDecodeError:
        return data.decode(errors="replace")
