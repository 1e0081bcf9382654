"""A generation plan is a value: it goes to JSON and back unchanged, and a runner can trust its shape."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sd_prompt_templates.plan import SCRIPT_KEY, GenerationPlan

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=12,
)


@st.composite
def plans(draw) -> GenerationPlan:
    batch_size, n_iter = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    n = batch_size * n_iter
    texts = st.lists(st.text(), min_size=n, max_size=n)
    seeds = st.lists(st.integers(0, 2**63 - 1), min_size=n, max_size=n)
    hires = st.none() | texts
    return GenerationPlan(
        kind=draw(st.sampled_from(["txt2img", "img2img"])),
        payload=draw(st.dictionaries(st.text(max_size=12), JSON_VALUES, max_size=6)),
        prompt_source=draw(st.text()),
        negative_source=draw(st.text()),
        prompts=draw(texts),
        negative_prompts=draw(texts),
        seeds=draw(seeds),
        batch_size=batch_size,
        n_iter=n_iter,
        mode=draw(st.sampled_from(["random", "combinatorial"])),
        offset=draw(st.integers(0, 2**63 - 1)),
        template=draw(st.none() | st.text()),
        template_version=draw(st.none() | st.integers(1, 2**63 - 1)),
        variables=draw(st.dictionaries(st.text(max_size=8), st.text(), max_size=4)),
        count=draw(st.none() | st.integers(0, 2**53 - 1)),
        count_text=draw(st.text(max_size=20)),
        hires_prompts=draw(hires),
        hires_negative_prompts=draw(hires),
        infotext=draw(st.dictionaries(st.text(max_size=12), st.text(), max_size=4)),
    )


@settings(max_examples=300, deadline=None)
@given(plans())
def test_a_plan_round_trips_through_json_exactly(plan):
    text = plan.to_json()
    again = GenerationPlan.from_json(text)
    assert again == plan
    assert again.to_json() == text
    assert GenerationPlan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan


@settings(max_examples=100, deadline=None)
@given(plans(), st.text(min_size=1, max_size=20))
def test_the_webui_request_carries_the_plan_for_the_script(plan, task_id):
    request = json.loads(json.dumps(plan.webui_request(task_id)))
    assert (request["batch_size"], request["n_iter"], request["seed"]) == (plan.batch_size, plan.n_iter, plan.seeds[0])
    assert request["prompt"] == plan.prompt_source and request["force_task_id"] == task_id
    assert GenerationPlan.from_dict(request["alwayson_scripts"][SCRIPT_KEY]["args"][0]["plan"]) == plan


def test_the_webui_request_keeps_other_extensions_scripts():
    plan = GenerationPlan(
        "txt2img", {"alwayson_scripts": {"controlnet": {"args": [1]}}}, "a", "", ["a"], [""], [1], 1, 1
    )
    scripts = plan.webui_request("task(x)")["alwayson_scripts"]
    assert scripts["controlnet"] == {"args": [1]} and SCRIPT_KEY in scripts


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "inpaint"}, "kind must be one of txt2img, img2img"),
        ({"prompts": ["a"]}, "one prompt, negative prompt and seed per image"),
        ({"n_iter": 3}, "one prompt, negative prompt and seed per image"),
        ({"hires_prompts": ["x"]}, "hires prompts must be one per image"),
        ({"surprise": 1}, "has no field surprise"),
    ],
)
def test_a_plan_that_breaks_its_invariants_is_refused(change, message):
    good = GenerationPlan("txt2img", {}, "a", "", ["a", "b"], ["", ""], [1, 2], 2, 1).to_dict()
    with pytest.raises(ValueError, match=message):
        GenerationPlan.from_dict({**good, **change})


@settings(max_examples=200, deadline=None)
@given(plans(), st.data())
def test_the_parts_of_a_plan_are_its_images_in_order(plan, data):
    start = data.draw(st.integers(0, plan.images - 1))
    stop = data.draw(st.integers(start + 1, plan.images))
    part = plan.part(start, stop)
    part.check()
    assert (part.batch_size, part.n_iter) == (stop - start, 1)
    assert part.prompts == plan.prompts[start:stop] and part.seeds == plan.seeds[start:stop]
    assert part.negative_prompts == plan.negative_prompts[start:stop]
    if plan.hires_prompts is not None:
        assert part.hires_prompts == plan.hires_prompts[start:stop]
    assert part.webui_request("t")["seed"] == plan.seeds[start]
    rebuilt = [p for a, b in plan.batch_bounds() for p in plan.part(a, b).prompts]
    assert rebuilt == plan.prompts


def test_a_part_with_variations_numbers_its_subseeds_on():
    plan = GenerationPlan(
        kind="txt2img",
        payload={"subseed": 100, "subseed_strength": 0.5},
        prompt_source="x",
        negative_source="",
        prompts=["a", "b", "c", "d"],
        negative_prompts=[""] * 4,
        seeds=[7] * 4,
        batch_size=2,
        n_iter=2,
    )
    assert plan.part(2, 4).payload["subseed"] == 102 and plan.payload["subseed"] == 100
    assert plan.batch_bounds() == [(0, 2), (2, 4)]


@pytest.mark.parametrize(("start", "stop"), [(-1, 1), (0, 0), (2, 1), (0, 5)])
def test_a_part_outside_the_plan_is_refused(start, stop):
    plan = GenerationPlan("txt2img", {}, "x", "", ["a"] * 4, [""] * 4, [1, 2, 3, 4], 4, 1)
    with pytest.raises(ValueError, match="within it"):
        plan.part(start, stop)


def test_a_part_of_whole_batches_keeps_the_plans_batch_size():
    plan = GenerationPlan("txt2img", {}, "x", "", list("abcdef"), [""] * 6, [1, 2, 3, 4, 5, 6], 2, 3)
    part = plan.part(2, 6, batch_size=2)
    part.check()
    assert (part.batch_size, part.n_iter, part.prompts, part.seeds) == (2, 2, list("cdef"), [3, 4, 5, 6])
    with pytest.raises(ValueError, match="cannot be cut into batches of 3"):
        plan.part(2, 6, batch_size=3)
    with pytest.raises(ValueError, match="batches of 0"):
        plan.part(2, 6, batch_size=0)


def test_the_grid_the_webui_puts_first_is_not_one_of_the_images_made():
    from sd_prompt_templates.plan import WebUIReply

    info = {"index_of_first_image": 1, "infotexts": ["grid", "a", "b"]}
    assert WebUIReply(["G", "A", "B"], json.dumps(info)).made() == (["A", "B"], ["a", "b"])
    assert WebUIReply(["A"], json.dumps({"infotexts": ["a"]})).made() == (["A"], ["a"])
    assert WebUIReply(["A"], "not json").made() == (["A"], [])
