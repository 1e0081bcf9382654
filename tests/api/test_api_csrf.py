"""No cross-site writes: a web page of another site can make the browser POST to a WebUI on localhost without a CORS
preflight (`fetch(url, {method: "POST", body: new Blob([json])})` sends no content type). Every route that changes
or generates something refuses, with 403, a request whose Origin is present and neither this server's own nor one
the WebUI allows (--cors-allow-origins, --cors-allow-origins-regex). Clients that send no Origin are unaffected."""

import json

import pytest

PREFIX = "/prompt-templates/v1"
EVIL = "http://evil.example"
NEW = {"name": "planted", "prompt": "a {red|blue} cat"}
DOCUMENT = {
    "format": "sd-prompt-templates",
    "format_version": 1,
    "templates": [{"name": "portrait", "prompt": "planted"}, NEW],
}

# Every route that changes or generates something, with a body that would succeed without the Origin check.
WRITES = [
    ("POST", "/templates", NEW, 201),
    ("PUT", "/templates/portrait", {"name": "portrait", "prompt": "planted", "version": 1}, 200),
    ("DELETE", "/templates/portrait", None, 204),
    ("POST", "/import", {"document": DOCUMENT, "on_conflict": "replace"}, 200),
    ("POST", "/render", {"prompt": "a {red|blue} cat"}, 200),
    ("POST", "/txt2img", {"prompt": "a {red|blue} cat"}, 200),
]
READS = ["/version", "/templates", "/templates/portrait", "/export", "/wildcards", "/wildcards/colors"]
IDS = [f"{m} {p}" for m, p, _, _ in WRITES]


def send(api, method, path, body, origin=None, content_type="json"):
    """As a browser would: a JSON body with or without a content type (a Blob has none), and its page's Origin."""
    headers = {"Origin": origin} if origin is not None else {}
    if body is not None and content_type == "json":
        headers["Content-Type"] = "application/json"
    elif body is not None and content_type:
        headers["Content-Type"] = content_type
    content = json.dumps(body) if body is not None else None
    return api.client.request(method, PREFIX + path, content=content, headers=headers)


def unchanged(api):
    record = api.store.get("portrait")
    return [r.name for r in api.store.list()] == ["portrait"] and record.version == 1 and record.prompt != "planted"


@pytest.mark.parametrize(("method", "path", "body", "ok"), WRITES, ids=IDS)
@pytest.mark.parametrize("content_type", ["json", None, "text/plain"], ids=["json", "no-content-type", "text-plain"])
@pytest.mark.parametrize(
    "origin", [EVIL, "null", "http://testserver.evil.example", "https://testserver", "http://testserver:8080"]
)
def test_a_foreign_origin_is_refused_and_nothing_happens(api, portrait, method, path, body, ok, content_type, origin):
    response = send(api, method, path, body, origin, content_type)
    assert response.status_code == 403, response.text
    detail = response.json()["detail"]
    assert "cross-site request refused" in detail and f"'{origin}'" in detail and "--cors-allow-origins" in detail
    assert unchanged(api) and api.generator.payloads == []


@pytest.mark.parametrize(("method", "path", "body", "ok"), WRITES, ids=IDS)
@pytest.mark.parametrize("origin", [None, "http://testserver", "http://TestServer:80", "http://testserver/"])
def test_no_origin_or_the_servers_own_is_accepted(api, portrait, method, path, body, ok, origin):
    response = send(api, method, path, body, origin)
    assert response.status_code == ok, response.text


@pytest.mark.parametrize(("method", "path", "body", "ok"), WRITES, ids=IDS)
@pytest.mark.parametrize(
    ("origins", "regex", "origin"),
    [
        ("http://localhost:3000,https://evil.example", None, "https://evil.example"),
        ("https://a.example, http://evil.example/", None, EVIL),  # spaces and a trailing slash as people write them
        ("*", None, EVIL),
        ("null", None, "null"),
        (None, r"https://.*\.trusted\.example", "https://app.trusted.example"),
        ("https://other.example", r"http://evil\.example", EVIL),
    ],
)
def test_origins_the_webui_allows_are_accepted(api, portrait, method, path, body, ok, origins, regex, origin):
    api.cors.update(origins=origins, regex=regex)
    response = send(api, method, path, body, origin, content_type=None)
    assert response.status_code == ok, response.text


@pytest.mark.parametrize(
    ("origins", "regex", "origin"),
    [
        ("https://evil.example", None, EVIL),  # scheme differs
        ("http://evil.example:8080", None, EVIL),  # port differs
        ("*", None, "null"),  # 'null' is never covered by '*'
        (None, r"https://.*\.trusted\.example", "https://trusted.example.evil.example"),  # the whole origin must match
        (None, r"https://.*\.trusted\.example", "null"),
        (None, "([", EVIL),  # a regex that does not compile allows nothing, and is no 500
    ],
)
def test_what_the_webui_does_not_allow_stays_refused(api, portrait, origins, regex, origin):
    api.cors.update(origins=origins, regex=regex)
    assert send(api, "POST", "/templates", NEW, origin, content_type=None).status_code == 403
    assert unchanged(api)


@pytest.mark.parametrize("path", READS)
def test_reads_are_unaffected(api, portrait, path):
    assert api.client.get(PREFIX + path, headers={"Origin": EVIL}).status_code == 200


def test_the_settings_are_read_at_each_request(api, portrait):
    assert send(api, "POST", "/render", {"prompt": "x"}, EVIL).status_code == 403
    api.cors["origins"] = EVIL
    assert send(api, "POST", "/render", {"prompt": "x"}, EVIL).status_code == 200
    api.cors["origins"] = None
    assert send(api, "POST", "/render", {"prompt": "x"}, EVIL).status_code == 403


def test_the_origin_is_checked_before_credentials_and_body(api, portrait):
    api.auth["value"] = "alice:secret"
    assert send(api, "POST", "/templates", NEW, EVIL).status_code == 403
    response = api.client.post(f"{PREFIX}/templates", content=b"{not json", headers={"Origin": EVIL})
    assert response.status_code == 403
    assert send(api, "POST", "/templates", NEW, None).status_code == 401
    response = api.client.post(f"{PREFIX}/templates", json=NEW, headers={"Origin": EVIL}, auth=("alice", "secret"))
    assert response.status_code == 403  # credentials a browser has cached do not make a foreign page welcome
    response = api.client.post(f"{PREFIX}/templates", json=NEW, auth=("alice", "secret"))
    assert response.status_code == 201
