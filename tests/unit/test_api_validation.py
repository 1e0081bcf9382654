"""The API's checks as plain functions: stored parameters, numbers of any size, origins and Basic credentials."""

import base64
import math
from types import SimpleNamespace

import pytest
from pydantic import BaseModel

from sd_prompt_templates.api.deps import ApiContext, basic_credentials, origin_allowed
from sd_prompt_templates.library.records import (
    INT64_MAX,
    PARAMETER_RULES,
    number_problems,
    parameter_problems,
    rule_problem,
)
from sd_prompt_templates.models import request_schema


class WebUIModel(BaseModel):
    width: int | None = 512
    steps: int | None = 20
    override_settings: dict | None = None
    sampler_name: str | None = None


def test_number_problems_name_each_path_and_never_turn_ints_into_text():
    value = {"a": [1, 10**5000, {"b": -(2**63) - 1}], "c": math.nan, "d": 2**63 - 1, "e": True, "f": math.inf}
    assert list(number_problems(value)) == [
        ("a.1", "is too large: integers here have at most 19 digits"),
        ("a.2.b", "is too large: integers here have at most 19 digits"),
        ("c", "must be a finite number"),
        ("f", "must be a finite number"),
    ]


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("width", 64, None),
        ("width", 63, "between 64 and"),
        ("width", 72.0, "integer"),
        ("width", 100, "multiple of 8"),
        ("steps", 1, None),
        ("steps", 0, "between 1 and"),
        ("seed", None, None),
        ("seed", -1, None),
        ("seed", INT64_MAX, None),
        ("seed", INT64_MAX + 1, "too large"),
        ("cfg_scale", 7, None),
        ("cfg_scale", math.nan, "finite"),
        ("cfg_scale", "7", "number"),
        ("enable_hr", 1, "true or false"),
        ("n_iter", False, "integer"),
    ],
)
def test_rules_of_the_parameters_our_code_reads(name, value, problem):
    found = rule_problem(PARAMETER_RULES[name], value)
    assert (found is None) if problem is None else (problem in found)


def test_without_upper_bounds_for_requests_the_settings_caps_apply_later():
    assert rule_problem(PARAMETER_RULES["steps"], 5000, upper=False) is None
    assert "at least 1" in rule_problem(PARAMETER_RULES["steps"], 0, upper=False)


def test_the_webuis_model_checks_values_and_names():
    schema = request_schema(WebUIModel)
    assert {"width", "steps", "override_settings", "sampler_name"} <= set(schema.names)
    assert parameter_problems({"width": 512, "override_settings": {"a": 1}, "sampler_name": "Euler"}, schema) == []
    problems = dict(parameter_problems({"override_settings": "x", "stpes": 3, "template": "t"}, schema))
    assert set(problems) == {"override_settings", "stpes", "template"}
    assert "did you mean steps" in problems["stpes"] and "chosen by each request" in problems["template"]
    assert parameter_problems({"stpes": 3, "template": "t"}, schema, names=False) == []  # at use: ignored


@pytest.mark.parametrize(
    ("origin", "host", "scheme", "allowed"),
    [
        ("http://localhost:7860", "localhost:7860", "http", True),
        ("http://LOCALHOST:7860", "localhost:7860", "http", True),
        ("http://localhost:7860", "127.0.0.1:7860", "http", False),
        ("http://localhost:7861", "localhost:7860", "http", False),
        ("https://webui.example", "webui.example", "https", True),
        ("https://webui.example:443", "webui.example", "https", True),
        ("http://webui.example", "webui.example", "https", False),
        ("http://[::1]:7860", "[::1]:7860", "http", True),
        ("http://localhost:7860@evil.example", "localhost:7860", "http", False),
        ("http://localhost:bad", "localhost:7860", "http", False),
        ("null", "localhost:7860", "http", False),
        ("", "localhost:7860", "http", False),
    ],
)
def test_the_servers_own_origin(origin, host, scheme, allowed):
    request = SimpleNamespace(headers={"host": host}, url=SimpleNamespace(scheme=scheme, netloc=host))
    context = ApiContext(service=None, credentials=lambda: None)  # type: ignore[arg-type]
    assert origin_allowed(origin, request, context) is allowed  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("header", "credentials"),
    [
        ("Basic " + base64.b64encode(b"alice:se:cret").decode(), ("alice", "se:cret")),
        ("basic " + base64.b64encode("jörg:pässword".encode()).decode(), ("jörg", "pässword")),
        ("Basic " + base64.b64encode(b"no colon").decode(), None),
        ("Basic !!!", None),
        ("Bearer abc", None),
        (None, None),
    ],
)
def test_basic_credentials(header, credentials):
    assert basic_credentials(header) == credentials
