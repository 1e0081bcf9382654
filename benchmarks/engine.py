"""Engine speed against dynamicprompts 0.31.0, both run side by side in one process on the same templates.

    python benchmarks/engine.py [--prompts 10000] [--repeat 5]

Needs `dynamicprompts==0.31.0` (tests/stacks/test.txt). Each figure is the best of --repeat runs (the least
disturbed by whatever else the machine does); the ratio is dynamicprompts' time over ours.
Targets (issue 2): >= 5x dynamicprompts' throughput for random and combinatorial prompts; count under 1 ms.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sd_prompt_templates.engine import Expansion, parse
from sd_prompt_templates.wildcards import WildcardLibrary

warnings.simplefilter("ignore", DeprecationWarning)

# 4 variant groups, 2 wildcards, 2 variables; the variables are defined in the template so that both engines get
# exactly the same input text.
TEMPLATE = (
    "${subject=an old fisherman}${place=a misty harbour}"
    "portrait of ${subject} in ${place}, {soft light|rim light|golden hour|overcast|neon glow}, "
    "{85mm|50mm|35mm|135mm|24mm} lens, wearing a __colors__ __garments__, "
    "{calm|dramatic|joyful|melancholic|serene} mood, {oil painting|photo|watercolor|charcoal sketch|3d render}"
)
WILDCARDS = {
    "colors.txt": "\n".join(["red", "blue", "green", "ochre", "teal", "violet", "amber", "ivory", "black", "white"]),
    "garments.txt": "\n".join(["coat", "scarf", "hat", "sweater", "jacket", "cape", "vest", "shirt", "hood", "robe"]),
}
# 10**12 combinations: twelve groups of ten options.
HUGE = " ".join("{" + "|".join(f"w{g}x{i}" for i in range(10)) + "}" for g in range(12))


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    args.add_argument("--prompts", type=int, default=10_000)
    args.add_argument("--repeat", type=int, default=5)
    opts = args.parse_args()

    from dynamicprompts.generators import CombinatorialPromptGenerator, RandomPromptGenerator
    from dynamicprompts.wildcards import WildcardManager

    root = Path(tempfile.mkdtemp(prefix="bench-wildcards-"))
    for name, text in WILDCARDS.items():
        (root / name).write_text(text + "\n", encoding="utf-8")
    library = WildcardLibrary([root], rescan_interval=3600)
    manager = WildcardManager(root)
    n = opts.prompts
    seeds = list(range(1000, 1000 + n))

    def ours_random() -> list[str]:
        expansion = Expansion(TEMPLATE, wildcards=library)  # parse + resolve included in the timing
        return [expansion.random(s) for s in seeds]

    def theirs_random_seeded() -> list[str]:  # one seed per image, as sd-dynamic-prompts does in the WebUI
        return RandomPromptGenerator(manager).generate(TEMPLATE, n, seeds=seeds)

    def theirs_random_unseeded() -> list[str]:  # one generator for the whole batch
        return RandomPromptGenerator(manager, seed=1).generate(TEMPLATE, n)

    def ours_combinatorial() -> list[str]:
        return Expansion(TEMPLATE, wildcards=library, limits=_limits(n)).combinations(0, n)

    def theirs_combinatorial() -> list[str]:
        return CombinatorialPromptGenerator(manager).generate(TEMPLATE, max_prompts=n)

    def ours_count() -> int:
        return Expansion(HUGE).count

    # same work: same number of prompts, and combinatorial mode yields the same set where both stop at n
    assert len(ours_random()) == len(theirs_random_seeded()) == n
    ours_set, theirs_set = ours_combinatorial(), theirs_combinatorial()
    assert len(ours_set) == len(theirs_set) == n
    assert Expansion(HUGE).count == 10**12
    full = Expansion(TEMPLATE, wildcards=library).count

    cases = [
        (f"{n} random prompts (seed per prompt)", theirs_random_seeded, ours_random),
        (f"{n} random prompts (dynamicprompts: one rng)", theirs_random_unseeded, ours_random),
        (f"{n} combinatorial prompts (of {full})", theirs_combinatorial, ours_combinatorial),
    ]
    rows = [(label, best_of(opts.repeat, theirs), best_of(opts.repeat, ours)) for label, theirs, ours in cases]
    count_time = best_of(max(opts.repeat, 20), ours_count)
    parse_time = best_of(max(opts.repeat, 20), lambda: parse(HUGE))

    print(f"Python {sys.version.split()[0]}; best of {opts.repeat}; ratio = dynamicprompts' time / ours")
    print(f"{'case':52} {'dynamicprompts':>15} {'ours':>10} {'ratio':>8}  target")
    for label, theirs, ours in rows:
        print(f"{label:52} {theirs * 1000:12.1f} ms {ours * 1000:7.1f} ms {theirs / ours:7.1f}x  >= 5x")
    label = "count of a 10**12-combination template (parse+count)"
    print(f"{label:52} {'(no API)':>15} {count_time * 1000:7.3f} ms {'':>8}  < 1 ms")
    print(f"{'  of which parsing':52} {'':>15} {parse_time * 1000:7.3f} ms")
    pathological(root, opts.repeat)


def pathological(root: Path, repeat: int) -> None:
    """Templates that took seconds to minutes before issue 8 (times then, from the issue: 60 s, 40 s, > 9 min,
    > 1 min, 273 s); each row is parse + count, 10 random prompts, and 10 combinations resumed deep inside."""
    from sd_prompt_templates.engine import Limits

    (root / "artists.txt").write_text("\n".join(f"artist {i}" for i in range(1_000)) + "\n", encoding="utf-8")
    (root / "big.txt").write_text("\n".join(f"entry number {i}" for i in range(10_000)) + "\n", encoding="utf-8")
    for i in range(20):  # each level uses the next one twice
        (root / f"deep{i}.txt").write_text(f"{{__deep{i + 1}__|__deep{i + 1}__ again}}\n", encoding="utf-8")
    (root / "deep20.txt").write_text("x\ny\n", encoding="utf-8")
    library = WildcardLibrary([root], rescan_interval=3600)
    wide = Limits(max_template_length=100_000, max_depth=64)
    options = lambda n: "|".join(f"option {i}" for i in range(n))  # noqa: E731
    rows = [
        ("{1-1000$$ 1000 options }", "{1-1000$$" + options(1000) + "}", 60.0),
        ("{1-2000$$ 2000 options }", "{1-2000$$" + options(2000) + "}", 540.0),
        ("{2-$$__artists__} (1,000 lines)", "{2-$$__artists__}", 40.0),
        ("{2$$__big__} (10,000 lines)", "{2$$__big__}", 60.0),
        ("__deep0__: 20 levels, each uses the next twice", "__deep0__", 273.0),
    ]
    print()
    print("pathological templates (ours; before this change: the last column)")
    print(f"{'template':52} {'count':>10} {'10 random':>10} {'10 resumed':>11}  {'before':>8}")
    for label, template, before in rows:

        def count(template: str = template) -> Expansion:
            return Expansion(template, wildcards=library, limits=wide)

        expansion = count()
        offset = expansion.count * 3 // 4  # deep inside: three quarters of the way through
        count_time = best_of(repeat, count)
        random_time = best_of(repeat, lambda e=expansion: [e.random(s) for s in range(10)])
        resume_time = best_of(repeat, lambda e=expansion, o=offset: e.combinations(o, 10))
        print(
            f"{label:52} {count_time * 1000:7.1f} ms {random_time * 1000:7.1f} ms {resume_time * 1000:8.1f} ms"
            f"  {before:6.0f} s"
        )


def _limits(n: int):
    from sd_prompt_templates.engine import Limits

    return Limits(max_prompts=max(n, 1))


if __name__ == "__main__":
    main()
