import pytest
from hypothesis import given
from hypothesis import strategies as st

from sd_prompt_templates.batching import auto_batch_size, batches
from sd_prompt_templates.settings import GenerationLimits

BUDGET = GenerationLimits()  # 8 x 256 x 256 pixels a batch, any image size
CPU = GenerationLimits(auto_batch_image_pixels=384 * 384)


@pytest.mark.parametrize(
    ("images", "side", "limits", "expected"),
    [
        (8, 64, BUDGET, 8),
        (8, 256, BUDGET, 8),
        (8, 512, BUDGET, 2),
        (8, 1024, BUDGET, 1),
        (8, 512, CPU, 1),  # too big to batch on a CPU
        (8, 384, CPU, 2),  # 3 fit the budget, but 3 does not divide 8
        (12, 256, BUDGET, 6),  # no extra image: 6 divides 12, 8 does not
        (13, 64, BUDGET, 13),
        (13, 256, BUDGET, 1),  # a prime above the cap: one at a time, never a 14th image
        (1, 64, BUDGET, 1),
        (100, 64, BUDGET, 100),
        (8, 64, GenerationLimits(auto_batch_pixels=0), 1),
    ],
)
def test_auto_batch_size(images, side, limits, expected):
    assert auto_batch_size(images, {"width": side, "height": side}, limits) == expected


def test_hires_pass_sizes_the_batch():
    fields = {"width": 256, "height": 256, "enable_hr": True, "hr_scale": 2}
    assert auto_batch_size(8, fields, BUDGET) == 2
    assert auto_batch_size(8, {**fields, "hr_resize_x": 1024, "hr_resize_y": 1024}, BUDGET) == 1


@given(
    images=st.integers(1, 500),
    width=st.integers(8, 256).map(lambda n: n * 8),
    height=st.integers(8, 256).map(lambda n: n * 8),
    budget=st.integers(0, 2**24),
)
def test_auto_batches_are_equal_and_within_budget(images, width, height, budget):
    limits = GenerationLimits(auto_batch_pixels=budget)
    size = auto_batch_size(images, {"width": width, "height": height}, limits)
    assert images % size == 0 and batches(images, size) * size == images
    assert size == 1 or size * width * height <= budget
