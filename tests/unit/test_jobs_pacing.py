"""How many of a job's batches go to the WebUI in one call: one until a batch's time is known for the plan's shape,
then as many whole batches as fit the call's time."""

from __future__ import annotations

from dataclasses import replace

from sd_prompt_templates.jobs.pacing import SHAPES_KEPT, Pacer, shape_of
from tests.unit.test_jobs_fakes import make_plan

PLAN = make_plan(8, 2)  # batches (0, 2) (2, 4) (4, 6) (6, 8)
ALL = PLAN.batch_bounds()


def test_a_shape_not_seen_yet_goes_one_batch_a_call():
    assert Pacer().batches_in_next_call(PLAN, ALL, 1.0) == 1


def test_as_many_whole_batches_as_fit_the_calls_time():
    pacer = Pacer()
    pacer.measured(PLAN, 2, 0.5)  # 0.25 s a batch
    assert pacer.batches_in_next_call(PLAN, ALL, 1.0) == 4
    assert pacer.batches_in_next_call(PLAN, ALL, 0.6) == 2
    assert pacer.batches_in_next_call(PLAN, ALL[:3], 10.0) == 3  # no more than are left
    assert pacer.batches_in_next_call(PLAN, ALL, 0.1) == 1  # a batch longer than the call's time still goes
    assert pacer.batches_in_next_call(PLAN, ALL, 0.0) == 1  # 0: a batch a call


def test_slow_batches_go_one_a_call():
    pacer = Pacer()
    pacer.measured(PLAN, 1, 3.0)
    assert pacer.batches_in_next_call(PLAN, ALL, 1.0) == 1


def test_a_batch_cut_short_never_goes_with_others():
    pacer = Pacer()
    pacer.measured(PLAN, 1, 0.01)
    assert pacer.batches_in_next_call(PLAN, [(1, 2), (2, 4), (4, 6)], 1.0) == 1  # resumed inside its first batch
    odd = make_plan(7, 7)  # one batch of 7; a plan of 7 in batches of 2 would not be a plan
    assert Pacer().batches_in_next_call(odd, odd.batch_bounds(), 1.0) == 1
    uneven = [(0, 2), (2, 4), (4, 5)]  # the last batch short: it goes alone
    assert pacer.batches_in_next_call(PLAN, uneven, 1.0) == 2


def test_a_new_measure_replaces_the_last_and_shapes_differ_by_what_takes_time():
    pacer = Pacer()
    pacer.measured(PLAN, 4, 0.4)
    pacer.measured(PLAN, 1, 2.0)
    assert pacer.batches_in_next_call(PLAN, ALL, 1.0) == 1
    bigger = replace(PLAN, payload={**PLAN.payload, "width": 1024})
    assert shape_of(bigger) != shape_of(PLAN) and Pacer().batches_in_next_call(bigger, ALL, 1.0) == 1
    other_prompts = replace(PLAN, prompts=["x"] * 8)
    assert shape_of(other_prompts) == shape_of(PLAN)
    with_script = replace(PLAN, payload={**PLAN.payload, "alwayson_scripts": {"controlnet": {"args": ["<image>"]}}})
    assert shape_of(with_script) != shape_of(PLAN)


def test_only_the_latest_shapes_are_kept():
    pacer = Pacer()
    plans = [replace(PLAN, payload={**PLAN.payload, "steps": n}) for n in range(SHAPES_KEPT + 1)]
    for plan in plans:
        pacer.measured(plan, 1, 0.01)
    assert pacer.batches_in_next_call(plans[0], ALL, 1.0) == 1  # the oldest was forgotten
    assert pacer.batches_in_next_call(plans[-1], ALL, 1.0) == 4
