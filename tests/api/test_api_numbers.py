"""Integers of any size (and NaN, Infinity, 1e400) anywhere numeric in a request get a 422 naming where, on every
route that takes input: never a 500, whatever pydantic (1 or 2), SQLite (64-bit integers) or Python (no int <-> str
beyond 4,300 digits on 3.10.7+ and 3.11) would make of them. The bodies are written as text: Python's json module
cannot even write such an int."""

import json

import pytest

PREFIX = "/prompt-templates/v1"
HUGE = {
    "400 digits": "9" * 400,
    "-400 digits": "-" + "9" * 400,
    "5000 digits": "7" * 5000,  # past Python's 4,300-digit limit
    "2**63": str(2**63),  # the first integer SQLite cannot store
}
NOT_FINITE = {"1e400": "1e400", "NaN": "NaN", "Infinity": "Infinity", "-Infinity": "-Infinity"}
MARK = "__NUMBER__"

# (method, path, JSON body with MARK where the number goes, the loc the 422 names)
BODIES = [
    ("post", "/templates", {"name": "n", "prompt": "x", "parameters": {"seed": MARK}}, ["parameters", "seed"]),
    ("post", "/templates", {"name": "n", "prompt": "x", "parameters": {"steps": MARK}}, ["parameters", "steps"]),
    ("post", "/templates", {"name": "n", "prompt": "x", "parameters": {"other": [MARK]}}, ["parameters", "other", 0]),
    (
        "post",
        "/templates",
        {"name": "n", "prompt": "${v}", "variables": [{"name": "v", "type": "number", "default": MARK}]},
        ["variables", 0, "default"],
    ),
    ("put", "/templates/portrait", {"name": "portrait", "prompt": "x", "version": MARK}, ["version"]),
    (
        "put",
        "/templates/portrait",
        {"name": "portrait", "prompt": "x", "version": 1, "parameters": {"width": MARK}},
        ["parameters", "width"],
    ),
    (
        "post",
        "/import",
        {"document": {"format": "sd-prompt-templates", "format_version": MARK, "templates": []}},
        ["document", "format_version"],
    ),
    (
        "post",
        "/import",
        {
            "document": {
                "format": "sd-prompt-templates",
                "format_version": 1,
                "templates": [{"name": "n", "prompt": "x", "parameters": {"n_iter": MARK}}],
            },
            "on_conflict": "replace",
        },
        ["document", "templates", 0, "parameters", "n_iter"],
    ),
    *[
        ("post", "/render", {"prompt": "{a|b}", field: MARK}, [field])
        for field in ("seed", "offset", "count", "batch_size", "n_iter")
    ],
    ("post", "/render", {"prompt": "${x}", "variables": {"x": MARK}}, ["variables", "x"]),
    ("post", "/render", {"template": "portrait", "variables": {"subject": MARK}}, ["variables", "subject"]),
    *[
        ("post", "/txt2img", {"prompt": "{a|b}", field: MARK}, [field])
        for field in (
            "seed",
            "subseed",
            "steps",
            "offset",
            "count",
            "width",
            "height",
            "n_iter",
            "batch_size",
            "cfg_scale",
            "hr_scale",
        )
    ],
    ("post", "/txt2img", {"prompt": "${x}", "variables": {"x": MARK}}, ["variables", "x"]),
    (
        "post",
        "/txt2img",
        {"prompt": "x", "alwayson_scripts": {"s": {"args": [MARK]}}},
        ["alwayson_scripts", "s", "args", 0],
    ),
]


def body_text(body, number):
    return json.dumps(body).replace(f'"{MARK}"', number)


@pytest.mark.parametrize(
    ("method", "path", "body", "loc"), BODIES, ids=[f"{m} {p} {'.'.join(map(str, loc))}" for m, p, _, loc in BODIES]
)
@pytest.mark.parametrize("number", [*HUGE.values(), *NOT_FINITE.values()], ids=[*HUGE, *NOT_FINITE])
@pytest.mark.parametrize("content_type", ["application/json", None], ids=["json", "no-content-type"])
def test_numbers_no_field_takes_get_422_naming_where(api, portrait, method, path, body, loc, number, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    response = api.client.request(method.upper(), PREFIX + path, content=body_text(body, number), headers=headers)
    assert response.status_code == 422, response.text[:500]
    detail = response.json()["detail"]
    assert any(item["loc"] == ["body", *loc] for item in detail), detail
    assert api.generator.payloads == []
    assert [r.name for r in api.store.list()] == ["portrait"] and api.store.get("portrait").version == 1


@pytest.mark.parametrize("number", HUGE.values(), ids=HUGE)
def test_huge_versions_in_query_and_if_match_get_422(api, portrait, number):
    for response in (
        api.client.delete(f"{PREFIX}/templates/portrait", params={"version": number}),
        api.client.delete(f"{PREFIX}/templates/portrait", headers={"If-Match": f'"{number.lstrip("-")}"'}),
        api.client.put(
            f"{PREFIX}/templates/portrait",
            json={"name": "portrait", "prompt": "x"},
            headers={"If-Match": number.lstrip("-")},
        ),
    ):
        assert response.status_code == 422, response.text[:300]
    assert api.store.get("portrait").version == 1


def test_the_largest_64_bit_numbers_still_pass(api, portrait):
    """At the edge: 2**63 - 1 is a valid seed and a (stale) version, not an error of the checks."""
    big = 2**63 - 1
    response = api.client.post(f"{PREFIX}/render", json={"prompt": "{a|b}", "seed": big - 5, "count": 2})
    assert response.status_code == 200 and response.json()["seeds"] == [big - 5, big - 4]
    stale = api.client.put(f"{PREFIX}/templates/portrait", json={"name": "portrait", "prompt": "x", "version": big})
    assert stale.status_code == 409
    assert api.client.delete(f"{PREFIX}/templates/portrait", params={"version": big}).status_code == 409
    response = api.client.post(f"{PREFIX}/txt2img", json={"prompt": "x", "seed": big - 1, "subseed": -big})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("number", HUGE.values(), ids=HUGE)
def test_digits_where_text_is_expected_are_just_text(api, portrait, number):
    """Query strings and names are text: a long run of digits there is not a number, and never a 500."""
    assert api.client.get(f"{PREFIX}/templates", params={"q": number, "tag": number}).status_code == 200
    assert api.client.get(f"{PREFIX}/export", params={"names": number}).status_code == 404
    assert api.client.get(f"{PREFIX}/templates/{number}").status_code == 404
    assert api.client.get(f"{PREFIX}/wildcards/{number}").status_code == 404
    response = api.client.post(f"{PREFIX}/render", json={"template": "portrait", "variables": {"subject": number}})
    assert response.status_code == 200  # a text variable takes any text, digits included


def test_json_nested_beyond_pythons_recursion_limit_is_a_4xx(api):
    response = api.client.post(f"{PREFIX}/render", content="[" * 100_000 + "]" * 100_000)
    assert 400 <= response.status_code < 500, response.text[:300]
