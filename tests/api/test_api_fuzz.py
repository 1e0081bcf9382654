"""Hostile requests found by fuzzing the REST API (schemathesis plus hand-made cases): each case states the promised
answer — a 4xx with a message, never a 500 — so it fails while the bug is there.

Bodies with lone surrogates are written as JSON text (`\\ud800` escapes), as any client may send them: Python's
json module reads them into str values that UTF-8 (SQLite, the JSON answer) cannot encode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sd_prompt_templates.library.records import INT64_MAX

PREFIX = "/prompt-templates/v1"
JSON = {"content-type": "application/json"}


@pytest.fixture
def client(api) -> TestClient:
    """The conftest app, answering a server error as a 500 (as a real server does) rather than raising it."""
    return TestClient(api.app, raise_server_exceptions=False)


def post_raw(client: TestClient, path: str, body: str) -> tuple[int, object, None]:
    response = client.post(PREFIX + path, content=body.encode("ascii"), headers=JSON)
    try:
        payload = response.json()
    except ValueError:
        payload = response.text
    return response.status_code, payload, None


def assert_refused(status: int, payload: object, *, statuses: tuple[int, ...] = (422,)) -> None:
    assert status in statuses, f"expected {statuses} with a message, got {status}: {str(payload)[:300]}"
    assert isinstance(payload, dict) and payload.get("detail"), payload


# -- lone surrogates (\ud800) in text fields ---------------------------------------------------------------------------
# Today: render answers 500 (UnicodeEncodeError writing the JSON answer); a create/update answers 500 from SQLite, or
# — for tags, variables and parameters, stored as escaped JSON — saves the template and then answers 500, after which
# GET /templates, GET /export and GET /templates/{name} answer 500 until it is deleted.


RENDER_BODIES = {
    "prompt": '{"prompt": "a \\ud800 b"}',
    "negative_prompt": '{"prompt": "a", "negative_prompt": "\\udfff"}',
    "option": '{"prompt": "{a|\\ud800}", "mode": "combinatorial"}',
    "variable value": '{"prompt": "${a}", "variables": {"a": "\\ud800"}}',
    "library template's variable": '{"template": "portrait", "variables": {"subject": "\\udc00"}}',
    "template name": '{"template": "\\ud800"}',
}

TEMPLATE_FIELDS = {
    "title": '"prompt": "ok", "title": "\\ud800"',
    "description": '"prompt": "ok", "description": "\\ud800"',
    "prompt": '"prompt": "x \\ud800"',
    "negative_prompt": '"prompt": "ok", "negative_prompt": "\\ud800"',
    "tag": '"prompt": "ok", "tags": ["\\ud800"]',
    "variable description": '"prompt": "${a}", "variables": [{"name": "a", "description": "\\ud800"}]',
    "variable default": '"prompt": "${a}", "variables": [{"name": "a", "default": "\\ud800"}]',
    "choice": '"prompt": "${a}", "variables": [{"name": "a", "type": "choice", "choices": ["\\ud800"]}]',
    "parameter": '"prompt": "ok", "parameters": {"sampler_name": "\\ud800"}',
}


def test_render_with_a_lone_surrogate_is_refused(client, portrait):
    problems = []
    for case, body in RENDER_BODIES.items():
        status, payload, _ = post_raw(client, "/render", body)
        wanted = (404, 422) if case == "template name" else (422,)
        if status not in wanted or not (isinstance(payload, dict) and payload.get("detail")):
            problems.append(f"{case}: {status} {str(payload)[:120]}")
    assert not problems, problems


def test_a_template_with_a_lone_surrogate_is_refused_and_the_library_still_lists(client, portrait):
    problems = []
    requests = [
        (f"POST /templates {case}", "post", "/templates", '{"name": "sur", ' + fields + "}")
        for case, fields in TEMPLATE_FIELDS.items()
    ]
    requests.append(
        (
            "PUT title",
            "put",
            "/templates/portrait",
            '{"name": "portrait", "prompt": "ok", "title": "\\ud800", "version": 1}',
        )
    )
    requests.append(
        (
            "POST /import tag",
            "post",
            "/import",
            '{"document": {"format": "sd-prompt-templates", "format_version": 1, '
            '"templates": [{"name": "imp", "prompt": "ok", "tags": ["\\udfff"]}]}}',
        )
    )
    for case, method, path, body in requests:
        response = client.request(method, PREFIX + path, content=body.encode("ascii"), headers=JSON)
        if response.status_code != 422:
            problems.append(f"{case}: {response.status_code} {response.text[:120]}")
        for check in ("/templates", "/export"):
            answer = client.get(PREFIX + check)
            if answer.status_code != 200:
                problems.append(f"after {case}: GET {check} answers {answer.status_code}")
        client.delete(PREFIX + "/templates/sur")
        client.delete(PREFIX + "/templates/imp")
    assert not problems, problems


# -- numbers -----------------------------------------------------------------------------------------------------------


def test_a_huge_hires_scale_is_refused(client):
    # checks.image_sizes: int(width * 1e308) -> OverflowError: cannot convert float infinity to integer (500)
    body = '{"prompt": "a", "steps": 2, "width": 64, "height": 64, "enable_hr": true, "hr_scale": 1e308}'
    status, payload, _ = post_raw(client, "/txt2img", body)
    assert_refused(status, payload)


def test_a_float_seed_beyond_64_bits_is_refused(client):
    # pydantic 1 (A1111) turns 1e300 into a 301-digit int: /render answered 200 with that seed
    status, payload, _ = post_raw(client, "/render", '{"prompt": "a", "seed": 1e300}')
    assert_refused(status, payload)


def test_seeds_never_go_past_64_bits(client):
    # seed 2**63 - 1 and 5 prompts: the answer listed seeds up to 2**63 + 3
    status, payload, _ = post_raw(client, "/render", json.dumps({"prompt": "a", "seed": INT64_MAX, "count": 5}))
    if status == 200:
        assert all(s <= INT64_MAX for s in payload["seeds"]), payload["seeds"]
    else:
        assert_refused(status, payload)


def test_an_infinite_option_weight_is_refused_or_honoured(client):
    # {1e400::a|b}: the weight became inf and random mode then always picked "b"
    status, payload, _ = post_raw(client, "/render", json.dumps({"prompt": "{1" + "0" * 400 + "::a|b}", "count": 5}))
    if status == 200:
        assert set(payload["prompts"]) == {"a"}, payload["prompts"]
    else:
        assert_refused(status, payload)


# -- bodies of the wrong shape ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", ["[]", '[["prompt", "a"]]'])
def test_arrays_where_objects_belong_are_refused(client, body):
    # pydantic 1 (A1111) reads [] and [[k, v]] as dicts: /render answered 200
    status, payload, _ = post_raw(client, "/render", body)
    assert_refused(status, payload)


def test_deeply_nested_parameters_are_refused_and_the_library_still_lists(client):
    # 300 levels (pydantic 2) / 500 levels (pydantic 1): saved, then the answer fails to serialize (500), and so does
    # every GET /templates and GET /export after it
    nested = '{"a": ' * 500 + "1" + "}" * 500
    status, payload, _ = post_raw(
        client, "/templates", '{"name": "deep", "prompt": "a", "parameters": {"alwayson_scripts": ' + nested + "}}"
    )
    assert_refused(status, payload)
    assert client.get(PREFIX + "/templates").status_code == 200
    assert client.get(PREFIX + "/export").status_code == 200


def test_a_body_that_is_not_utf8_gets_a_documented_answer(client):
    response = client.post(PREFIX + "/render", content=b'{"prompt": "\xff"}', headers=JSON)
    assert 400 <= response.status_code < 500
    documented = client.get("/openapi.json").json()["paths"][PREFIX + "/render"]["post"]["responses"]
    assert str(response.status_code) in documented, (response.status_code, sorted(documented))


def test_nullable_answers_are_nullable_in_the_openapi_document(client):
    # pydantic 1 (A1111) writes `template: str | None` as {"type": "string"}: every answer without a library template
    # (template: null) and every count past 2**53 (count: null) violates the published schema
    document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]

    def answer_schema(path: str) -> dict:
        ref = document["paths"][PREFIX + path]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
        return schemas[ref["$ref"].rsplit("/", 1)[-1]]

    problems = []
    for path, field in (("/render", "template"), ("/render", "count"), ("/txt2img", "template")):
        prop = answer_schema(path)["properties"][field]
        if not (prop.get("nullable") is True or any(s.get("type") == "null" for s in prop.get("anyOf", []))):
            problems.append((path, field, prop))
    assert not problems, problems


# -- limits that are not enforced ------------------------------------------------------------------------------------

VARIANT_200 = "{" + "|".join(str(i) for i in range(200)) + "}"
HALF_MILLION = "x" * 500_000  # 21 prompts of 500,000+ characters: past the 10,000,000 characters a request may make


def test_combinatorial_prompts_past_the_request_length_are_a_422(client):
    # Expansion.combinations raises TemplateLimitError, which the planner and the routes do not catch: 500
    body = {"prompt": "${a}" + VARIANT_200, "variables": {"a": HALF_MILLION}, "mode": "combinatorial", "count": 21}
    status, payload, _ = post_raw(client, "/render", json.dumps(body))
    assert_refused(status, payload)
    assert "count" in json.dumps(payload)


def test_random_prompts_past_the_request_length_are_a_422(client):
    # random mode never calls Expansion.check_request: 200 with 10.5 million characters of prompts
    body = {"prompt": "${a}" + VARIANT_200, "variables": {"a": HALF_MILLION}, "count": 21}
    status, payload, _ = post_raw(client, "/render", json.dumps(body))
    assert_refused(status, payload)


# -- inputs whose cost used to grow exponentially or quadratically ----------------------------------------------------
# Their speed is measured in benchmarks/engine.py; here, what they answer.


def test_variables_defined_from_each_other_are_refused_by_the_length_limit_not_expanded(client):
    # ${z1=${z0}${z0}} ... 60 levels (1,150 characters): each use used to be spliced in, 2**60 parts
    levels = 60
    template = "${z0={x|y}}" + "".join(f"${{z{i}=${{z{i - 1}}}${{z{i - 1}}}}}" for i in range(1, levels))
    template += f"${{z{levels - 1}}}"
    status, payload, _ = post_raw(client, "/render", json.dumps({"prompt": template}))
    assert_refused(status, payload)
    assert "characters long" in json.dumps(payload)


def test_a_variable_used_twice_is_counted_and_expanded_as_before(client):
    body = {"prompt": "${c={red|blue}}${c} and ${c}", "mode": "combinatorial"}
    answer = client.post(PREFIX + "/render", json=body).json()
    assert answer["prompts"] == ["red and red", "red and blue", "blue and red", "blue and blue"]


def test_many_references_to_a_big_wildcard_share_one_table(client, wildcard_dir: Path):
    (wildcard_dir / "big.txt").write_text("\n".join(f"entry number {i}" for i in range(10_000)) + "\n")
    response = client.post(PREFIX + "/render", json={"prompt": "__big__ " * 25, "seed": 1})
    assert response.status_code == 200, response.text[:300]
    assert response.json()["prompts"][0].count("entry number") == 25


def test_a_template_with_thousands_of_variables_and_a_duplicate(client):
    variables = [{"name": f"v{i}"} for i in range(5_000)] + [{"name": "v7"}]
    response = client.post(PREFIX + "/templates", json={"name": "many", "prompt": "a", "variables": variables})
    assert response.status_code == 422 and "'v7' is declared twice" in response.text


def test_export_of_a_name_repeated_lists_it_once(client, portrait):
    response = client.get(PREFIX + "/export", params={"names": ",".join(["portrait"] * 1_200)})
    assert response.status_code == 200, response.text[:300]
    assert [t["name"] for t in response.json()["templates"]] == ["portrait"]
