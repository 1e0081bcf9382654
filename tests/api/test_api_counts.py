"""A template's count is exact and of any size: the API gives `count` as a JSON number while every client reads it
exactly (up to 2**53 - 1), else null, and `count_text` always (every digit up to 60, else ≈1.23e5000)."""

import json

import pytest

from sd_prompt_templates.counts import JSON_SAFE_MAX, show
from sd_prompt_templates.engine import Expansion
from sd_prompt_templates.models import PYDANTIC_V2, RenderResponse, count_fields, validate

PREFIX = "/prompt-templates/v1"
# 2,000 options, one to all of them in order: a count of 5,736 digits, past Python's 4,300-digit int <-> str limit.
HUGE_TEMPLATE = "{1-2000$$" + "|".join(f"o{i}" for i in range(2000)) + "}"


def render(api, **body):
    response = api.client.post(f"{PREFIX}/render", json=body)
    assert response.status_code == 200, response.text[:500]
    return response.json()


def test_a_small_count_is_a_number_and_its_digits(api):
    body = render(api, prompt="{a|b|c} {x|y}")
    assert (body["count"], body["count_text"], body["total"]) == (6, "6", 6)


@pytest.mark.parametrize(
    ("prompt", "text"),
    [
        ("{a|b}" * 53, "9007199254740992"),  # 2**53: the first integer a JavaScript client cannot read exactly
        ("{a|b}" * 54, "18014398509481984"),
        ("{a|b|c|d|e|f|g|h|i|j}" * 60, "1" + "0" * 60),  # 61 digits: shown rounded
    ],
)
def test_past_2_53_count_is_null_and_count_text_says_it(api, prompt, text):
    expected = Expansion(prompt).count
    body = render(api, prompt=prompt)
    assert body["count"] is None and body["total"] is None
    assert body["count_text"] == show(expected)
    if len(text) <= 60:
        assert body["count_text"] == text == str(expected)
    else:
        assert body["count_text"] == "≈1.00e60"


def test_the_largest_exact_number_is_still_a_number(api):
    assert count_fields(JSON_SAFE_MAX) == {"count": JSON_SAFE_MAX, "count_text": str(JSON_SAFE_MAX)}
    assert count_fields(JSON_SAFE_MAX + 1) == {"count": None, "count_text": str(JSON_SAFE_MAX + 1)}


def test_a_count_of_thousands_of_digits_answers_200(api):
    total = Expansion(HUGE_TEMPLATE).count
    assert total.bit_length() > 4300 * 3.32  # more than 4,300 decimal digits
    body = render(api, prompt=HUGE_TEMPLATE, seed=7)
    assert body["count"] is None and body["count_text"] == show(total) and body["count_text"].startswith("≈")
    assert body["count_text"].endswith("e5735") and len(body["prompts"]) == 1
    page = render(api, prompt=HUGE_TEMPLATE, mode="combinatorial", count=2, offset=10)
    assert page["count_text"] == body["count_text"] and len(page["prompts"]) == 2 and page["offset"] == 10


def test_all_combinations_of_a_huge_template_is_a_422_saying_how_many(api):
    response = api.client.post(f"{PREFIX}/render", json={"prompt": HUGE_TEMPLATE, "mode": "combinatorial"})
    assert response.status_code == 422, response.text[:300]
    (item,) = response.json()["detail"]
    assert item["loc"] == ["body", "count"] and "≈" in item["msg"] and "the limit is" in item["msg"]


def test_a_named_huge_template_renders_and_generates(api):
    assert api.client.post(f"{PREFIX}/templates", json={"name": "huge", "prompt": HUGE_TEMPLATE}).status_code == 201
    assert render(api, template="huge")["count"] is None
    response = api.client.post(f"{PREFIX}/txt2img", json={"template": "huge", "count": 2, "mode": "combinatorial"})
    assert response.status_code == 200, response.text[:300]
    assert len(response.json()["prompts"]) == 2


@pytest.mark.parametrize(
    "n",
    [0, 5, JSON_SAFE_MAX, JSON_SAFE_MAX + 1, 10**59, 10**60, 7**6000],
    ids=["0", "5", "2**53-1", "2**53", "10**59", "10**60", "7**6000"],
)
def test_the_response_model_carries_any_count_as_json(n):
    fields = count_fields(n)
    data = {"template": None, "mode": "random", **fields, "total": fields["count"], "offset": 0}
    data.update(prompts=[], negative_prompts=[], seeds=[])
    model = validate(RenderResponse, data)
    text = model.model_dump_json() if PYDANTIC_V2 else model.json()
    again = json.loads(text)
    assert again["count"] == (n if n <= JSON_SAFE_MAX else None)
    assert again["count_text"] == show(n)
    if n < 10**60:
        assert again["count_text"] == str(n)
    else:
        assert again["count_text"].startswith("≈") and len(again["count_text"]) < 20


def test_the_fields_are_documented(api):
    schema = api.client.get("/openapi.json").json()["components"]["schemas"]["RenderResponse"]["properties"]
    assert "2^53 - 1" in schema["count"]["description"] and "count_text" in schema["count"]["description"]
    assert "≈1.23e5000" in schema["count_text"]["description"]
