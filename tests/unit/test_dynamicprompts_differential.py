"""Differential test: on the syntax and the wildcard files both read, combinatorial expansion gives exactly the set
of prompts that the `dynamicprompts` library (what sd-dynamic-prompts runs on) gives.

Three sets of cases, each a template expanded by both:
(a) our own hand-written collection, tests/data/collections/shapes, one of each shape dynamicprompts loads;
(b) dynamicprompts' own test collections, `__NAME__` for every name its WildcardManager lists, taken at test time
    from a git repository of dynamicprompts (DYNAMICPROMPTS_REPO, by default /work/.mirror/adieyal+dynamicprompts/repo)
    and skipped when there is none: nothing of it is stored here;
(c) the examples of dynamicprompts' docs/SYNTAX.md and docs/tutorial.md that use variants, wildcards and variables,
    with wildcard files of our own (tests/data/collections/docs, docs-variants).

A case is "same" (equal sets, or both refuse the template), "different" on purpose (listed with the reason; the test
checks that it still differs and what we give), or xfail(strict=True) with "engine: ..." while the engine lacks
something (ENGINE_XFAIL), so that it turns red once the engine has it. The summary (same / different / xfail /
wrong) is printed after the module's tests, and by `python -m tests.unit.test_dynamicprompts_differential`.

The differences on purpose: an unknown wildcard is an error, never literal text; `${x=!...}` enumerates every value;
a relative reference takes the nearest collection, not every `**/name`; a dynamic name `__a/{b|c}__` gives every name
it stands for; weights below 1, and weights in a file that is a plain list, count; whitespace around an option is
dropped; and these are not supported: definitions inside entries (`${x?=...}`), wildcard parameters `__name(x=y)__`,
`#` comments, sampler prefixes `{~a|b}` `{@a|b}`, the wrap command `%{...$$...}`.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sd_prompt_templates.engine import Expansion, Limits, TemplateError, render
from sd_prompt_templates.wildcards import WildcardLibrary
from tests.conftest import write_files

dynamicprompts = pytest.importorskip("dynamicprompts", reason="dynamicprompts is a test dependency (tests/stacks)")
from dynamicprompts.generators import CombinatorialPromptGenerator  # noqa: E402
from dynamicprompts.wildcards import WildcardManager  # noqa: E402

COLLECTIONS = Path(__file__).resolve().parents[1] / "data" / "collections"
DP_REPO = Path(os.environ.get("DYNAMICPROMPTS_REPO", "/work/.mirror/adieyal+dynamicprompts/repo"))
DP_TEST_DATA = "tests/test_data/wildcards"
LIMITS = Limits(max_prompts=100_000)
MAX_PROMPTS = 100_000


# -- the two engines -------------------------------------------------------------------------------------------------


class Engines:
    """Ours and theirs over one folder of wildcards; each gives a set of prompts or the error it raised."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ours = WildcardLibrary([root], rescan_interval=3600)
        self.manager = WildcardManager(root)
        self.theirs = CombinatorialPromptGenerator(self.manager)

    def our_set(self, template: str) -> frozenset[str] | TemplateError:
        try:
            return frozenset(render(template, wildcards=self.ours, mode="combinatorial", n=None, limits=LIMITS).prompts)
        except TemplateError as exc:
            return exc

    def their_set(self, template: str) -> frozenset[str] | Exception:
        try:
            return frozenset(self.theirs.generate(template, max_prompts=MAX_PROMPTS))
        except Exception as exc:  # dynamicprompts raises KeyError, ValueError, pyparsing errors...
            return exc


_ENGINES: dict[str, Engines] = {}


def engines(collection: str) -> Engines:
    if collection not in _ENGINES:
        root = dp_test_data() if collection == "dp-test-data" else COLLECTIONS / collection
        _ENGINES[collection] = Engines(root)
    return _ENGINES[collection]


# -- dynamicprompts' own test collections, from its git repository -----------------------------------------------------

_DP_DATA: list[Path | str] = []  # the extracted folder, or why there is none


def dp_test_data_reason() -> str | None:
    if not _DP_DATA:
        try:
            _DP_DATA.append(_extract_dp_test_data())
        except (OSError, subprocess.CalledProcessError, ValueError) as exc:
            _DP_DATA.append(f"dynamicprompts' test collections are not available: {exc}")
    found = _DP_DATA[0]
    return found if isinstance(found, str) else None


def dp_test_data() -> Path:
    reason = dp_test_data_reason()
    if reason:
        pytest.skip(reason)
    found = _DP_DATA[0]
    assert isinstance(found, Path)
    return found


def _extract_dp_test_data() -> Path:
    """Write the files under tests/test_data/wildcards of DP_REPO's HEAD into a temporary folder."""
    if not DP_REPO.exists():
        raise ValueError(
            f"no git repository at {DP_REPO} (set DYNAMICPROMPTS_REPO to a clone of adieyal/dynamicprompts)"
        )
    if shutil.which("git") is None:
        raise ValueError("git is not installed")
    git = ["git", "--git-dir", str(DP_REPO / ".git") if (DP_REPO / ".git").is_dir() else str(DP_REPO)]
    listing = subprocess.run([*git, "ls-tree", "-r", "-z", "HEAD", DP_TEST_DATA], capture_output=True, check=True)
    dest = Path(tempfile.mkdtemp(prefix="dynamicprompts-test-data-"))
    atexit.register(shutil.rmtree, dest, ignore_errors=True)
    count = 0
    for record in listing.stdout.split(b"\0"):
        if not record:
            continue
        meta, path = record.split(b"\t", 1)
        _mode, kind, sha = meta.split()
        if kind != b"blob":
            continue
        blob = subprocess.run([*git, "cat-file", "blob", sha.decode()], capture_output=True, check=True).stdout
        target = dest / Path(path.decode()).relative_to(DP_TEST_DATA)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(blob)
        count += 1
    if not count:
        raise ValueError(f"{DP_REPO} has no {DP_TEST_DATA}")
    return dest


# -- cases -------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    collection: str  # a folder under tests/data/collections, or "dp-test-data"
    template: str
    different: str = ""  # why we differ on purpose
    ours: frozenset[str] | str | None = None  # for a difference: what we give, or a regex our error matches
    engine: str = ""  # "engine: ..." while the engine lacks something: the case is xfail(strict=True)


def diff(case_id: str, collection: str, template: str, why: str, ours: frozenset[str] | str) -> Case:
    return Case(case_id, collection, template, different=why, ours=ours)


S = "shapes"
SHAPES = [
    Case("txt-comments-blank-lines", S, "__colors__"),
    Case("name-with-spaces", S, "__my colors__"),
    Case("name-with-&-'-+", S, "__rock & roll's +1__"),
    Case("entries-with-variants-and-wildcards", S, "__nested__"),
    Case("entry-with-a-variable-default", S, "__greeting__"),
    Case("entry-with-a-template-variable", S, "${who={you|them}} __greeting__"),
    Case("duplicates", S, "__dupes__"),
    Case("pick-two-of-duplicates", S, "{2$$__dupes__}"),
    Case("pick-range-of-duplicates", S, "{1-3$$ and $$__dupes__}"),
    Case("yaml-key-list", S, "__fabrics__"),
    Case("yaml-nested-keys", S, "__artists/painters/impressionist__"),
    Case("yaml-key-holding-text", S, "__artists/potter__"),
    Case("yaml-glob-over-keys", S, "__artists/*__"),
    Case("yaml-weights-text", S, "__weights/heavy__"),
    Case("yaml-weights-mappings", S, "__weights/light__"),
    Case("yaml-numbers-left-out", S, "__weights/numbers__"),
    Case("json-nested", S, "__drinks/hot/tea__"),
    Case("json-key-holding-text", S, "__drinks/hot/coffee__"),
    Case("json-weights-and-duplicates", S, "__drinks/cold__"),
    Case("json-glob", S, "{2$$__drinks/*__}"),
    Case("yaml-top-level-list", S, "__animals/reptiles/lizards__"),
    Case("json-top-level-list", S, "__animals/reptiles/snakes__"),
    Case("relative-references", S, "__animals/all__"),
    Case("glob-star", S, "__animals/*__"),
    Case("glob-double-star", S, "__animals/**__"),
    Case("glob-two-levels", S, "__animals/*/*__"),
    Case("glob-prefix", S, "__*colors__"),
    Case("glob-question-mark", S, "__colo?s__"),
    Case("glob-union-of-duplicates", S, "__shades/*__"),
    Case("pick-two-of-a-glob-union", S, "{2$$__shades/*__}"),
    Case("fallback-below-any-folder", S, "__reptiles/lizards__"),
    Case("fallback-for-a-glob", S, "__reptiles/*__"),
    Case("fallback-one-name", S, "__canine__"),
    Case("fallback-matching-two", S, "__pets__"),
    Case("dynamic-name-variable", S, "${kind=reptiles} __animals/${kind}/*__"),
    Case("dynamic-name-variable-default", S, "__animals/${kind:mammals}/*__"),
    Case("mixed", S, "a __colors__ {cat|__animals/mammals/feline__} on {2$$ or $$__my colors__|__shades/cool__}"),
    diff(
        "relative-reference-is-the-nearest",
        S,
        "__zoo/keeper__",
        "`__pets__` in zoo/keeper.txt is zoo/pets here; dynamicprompts takes every `**/pets` (home/pets too)",
        frozenset({"parrot"}),
    ),
    diff(
        "fractional-weight",
        S,
        "__weights/fraction__",
        "combinatorial mode keeps an entry of weight 0.5 here; dynamicprompts repeats an entry int(weight) times, "
        "so it drops it",
        frozenset({"rare", "common"}),
    ),
    diff(
        "weight-in-a-top-level-list",
        S,
        "__tagged__",
        "`3::bold` in a file that is a plain list is a weight here, as in a key's list; dynamicprompts reads a "
        "top-level list's items as plain text",
        frozenset({"bold", "plain"}),
    ),
    diff(
        "unknown-wildcard",
        S,
        "a __nope__",
        "an unknown wildcard is an error here, never literal `__nope__` text in a prompt",
        r"wildcard '__nope__' is unknown",
    ),
    diff(
        "dynamic-name-variant",
        S,
        "__animals/{mammals|reptiles}/*__",
        "every name a dynamic name stands for is expanded here; dynamicprompts' combinatorial mode expands only the "
        "first (`animals/mammals/*`)",
        frozenset({"beagle", "husky", "lynx", "ocelot", "skink", "anole", "adder", "mamba"}),
    ),
]

D = "docs"
COMING = "{summer|autumn|winter|spring} is coming"
ICE = "My favourite ice-cream flavours are "
WEAR = "In ${season}, I wear ${season} shirts and ${season} trousers"
PERSON = "{blond|redhead|brunette}, {green|blue|brown|hazel} eyes, {tall|average|short}"
COMMENTED = """    # Set the season variable
    ${season={
        summer
	|autumn
	# | fall    # commented this value out
	|winter
	|spring
    }

   In ${season:summer}, I wear ${season:summer} shirts and ${season:summer} trousers"""
RING = """{A diamond|A ruby|An emerald} ring set on a {classic|thin|thick}
{
    {rose|yellow|white} gold
    | platinum
}
band"""
COMMENTED_RING = """A diamond ring set on a {
    {rose|yellow|white} gold   # you can also add comments
    | platinum                 # which will be ignored by the DP parser
} band"""
LAYOUT = (
    "whitespace around an option is layout here, dropped; dynamicprompts keeps what follows a nested variant in an "
    "option (`gold\\n    `), so its prompts have extra spaces and line breaks"
)


def rings(gems: list[str]) -> frozenset[str]:
    metals = ["rose gold", "yellow gold", "white gold", "platinum"]
    return frozenset(
        f"{g} ring set on a {b}\n{m}\nband" for g in gems for b in ("classic", "thin", "thick") for m in metals
    )


SURFER = "surfer in space, intricate detail, airbrush painting, illustration, by "
IMMEDIATE = (
    "`${x=!...}`: every value is a combination here; dynamicprompts' combinatorial mode takes only the first "
    "value (a fixed one, as in random mode)"
)
DOCS = [
    Case("variants-basic", D, COMING),
    Case("variants-weights", D, "`{0.5::summer|0.1::autumn|0.3::winter|0.1::spring}`"),
    Case("choose-two", D, ICE + "{2$$chocolate|vanilla|strawberry}"),
    Case("custom-separator", D, ICE + "{2$$ and $$chocolate|vanilla|strawberry}"),
    Case("range", D, ICE + "{1-2$$ and $$chocolate|vanilla|strawberry}"),
    Case("range-no-lower-bound", D, "{-2$$chocolate|vanilla|strawberry}"),
    Case("range-full", D, "{1-2$$chocolate|vanilla|strawberry}"),
    Case("range-no-upper-bound", D, "{1-$$chocolate|vanilla|strawberry}"),
    Case("more-than-there-are", D, "p{4$$chocolate|vanilla|strawberry}"),
    Case("wildcard-basic", D, "__season__ is coming"),
    Case("wildcard-in-variant", D, ICE + "{2$$__flavours__}"),
    diff(
        "wildcard-twice-in-variant",
        D,
        ICE + "{2$$__flavours__|__flavours__}",
        "dynamicprompts' combinatorial mode fails on it (RuntimeError: generator raised StopIteration); here it "
        "gives two different flavours, as the docs say",
        frozenset(
            ICE + f"{a},{b}"
            for a in ("pistachio", "mango", "hazelnut")
            for b in ("pistachio", "mango", "hazelnut")
            if a != b
        ),
    ),
    Case("variants-in-wildcards", "docs-variants", "__season__ is coming"),
    Case("nested-wildcards", D, "__people_of_the_world__"),
    Case("glob", D, "__colours*__"),
    Case("glob-in-a-prompt", D, "The colour of my shirt is __colours*__"),
    Case("recursive-glob", D, "__artists/**__"),
    Case("yaml-file", D, "__clothing__ by __artists/finnish__"),
    Case("yaml-glob", D, "__artists/*__"),
    Case("json-file", D, "__wardrobe__ by __makers/weavers__"),
    diff(
        "immediate-wildcard",
        D,
        "${season=!__season__} " + WEAR,
        IMMEDIATE,
        frozenset(" " + WEAR.replace("${season}", s) for s in ("summer", "autumn", "winter", "spring")),
    ),
    diff(
        "immediate-variant",
        D,
        "${season=!{summer|autumn|winter|spring}} " + WEAR,
        IMMEDIATE,
        frozenset(" " + WEAR.replace("${season}", s) for s in ("summer", "autumn", "winter", "spring")),
    ),
    Case("non-immediate", D, "${season=__season__} and " + WEAR),
    Case("person-repeated", D, f"A {PERSON} man and a {PERSON} woman"),
    Case(
        "person-variable",
        D,
        f"${{person_description={PERSON}}}\nA ${{person_description}} man and a " "${person_description} woman",
    ),
    Case("template-variable-into-wildcard", D, "${season={summer|autumn|winter|spring}} __season_clothes__"),
    Case("default-values", D, "In ${season:summer}, I wear ${season:summer} shirts and ${season:summer} trousers"),
    Case("combinatorial-sampler", D, "A {red|green|blue} {square|circle}"),
    # docs/tutorial.md
    Case("tutorial-variant", D, "A diamond ring set on a {gold|platinum} band."),
    Case("tutorial-nested-variant", D, "A diamond ring set on a {{rose|yellow|white} gold|platinum} band."),
    diff(
        "tutorial-layout",
        D,
        RING.replace("{A diamond|A ruby|An emerald}", "A {diamond|ruby|emerald}"),
        LAYOUT,
        rings(["A diamond", "A ruby", "A emerald"]),
    ),
    diff("tutorial-grammar", D, RING, LAYOUT, rings(["A diamond", "A ruby", "An emerald"])),
    diff(
        "tutorial-wildcard",
        D,
        RING.replace("{A diamond|A ruby|An emerald}", "A __gems__"),
        LAYOUT,
        rings(["A sapphire", "A opal", "A garnet"]),
    ),
    Case(
        "tutorial-wildcard-with-variants", D, "A __gems__ ring set on a {classic|thin|thick} __precious_metals__ band"
    ),
    Case(
        "tutorial-folders-with-spaces",
        D,
        f"{SURFER}__artists/European Art/modern/pointilism__ and "
        "__artists/European Art/modern/american_impressionism__",
    ),
    Case("tutorial-two-artists", D, SURFER + "{2$$__artists/illustrations/childrens_books__}"),
    Case("tutorial-two-artists-and", D, SURFER + "{2$$ and $$__artists/illustrations/childrens_books__}"),
    Case("tutorial-four-artists", D, SURFER + "{4$$__artists/illustrations/childrens_books__}"),
    Case("tutorial-two-to-four-artists", D, SURFER + "{2-4$$__artists/illustrations/childrens_books__}"),
    diff(
        "tutorial-comments",
        D,
        COMMENTED_RING,
        "`#` starts no comment here: it is text, as the WebUI reads it",
        frozenset(
            f"A diamond ring set on a {metal} band"
            for metal in [
                *(f"{c} gold   # you can also add comments" for c in ("rose", "yellow", "white")),
                "platinum                 # which will be ignored by the DP parser",
            ]
        ),
    ),
    diff(
        "parameterised-template",
        D,
        "__season_clothes(season=winter)__",
        "wildcard parameters `__name(var=value)__` are not supported",
        r"parameters '\(\.\.\.\)' are not supported",
    ),
    diff(
        "preserving-existing-values",
        D,
        "${subject=boy} __examples/prompt__",
        "`${x?=!...}` (definitions inside wildcard entries) is not supported",
        r"in wildcard '__examples/prompt__'",
    ),
    Case("whitespace-and-comments", D, COMMENTED),  # both refuse it: comments are text here, and dynamicprompts
    # 0.31.0 cannot parse this example of its own docs ("Expected end of text, found '$'")
    diff(
        "wrap-command",
        D,
        "%{something wrapping ..., very cool, neat$$this internal prompt}",
        "the wrap command `%{...$$...}` is not supported",
        frozenset({"%something wrapping ..., very cool, neat$$this internal prompt"}),
    ),
    diff(
        "random-sampler-prefix",
        D,
        "{red|green|blue} {~square|circle}",
        "sampler prefixes `~` `@` are not supported: here `~square` is an option's text",
        frozenset(f"{c} {s}" for c in ("red", "green", "blue") for s in ("~square", "circle")),
    ),
    diff(
        "cyclical-sampler-prefix",
        D,
        "{@embedding1|embedding2} and {@embedding3|embedding4}",
        "sampler prefixes `~` `@` are not supported: here `@embedding1` is an option's text",
        frozenset(f"{a} and {b}" for a in ("@embedding1", "embedding2") for b in ("@embedding3", "embedding4")),
    ),
]
# Not turned into cases: the docs' "weighted options in YAML" example (`{ ? 2::red | 3::blue | 1: : green }`) is a
# YAML mapping with one complex key, not a list of weighted options, and its JSON example does not parse (a stray
# quote): tests/data/collections/docs/broken.json has the same fault, and test_docs_collection_names checks that
# both leave it out and that we report it.

# dynamicprompts' own test collections: every name gives the same set, except these.
DRINK = "its entry defines variables with `${x?=...}` (set unless set), which is refused here"
DP_TEST_DATA_DIFFERENT = {
    "drink/beverage": (DRINK, r"after the variable name 'season', found '\?'"),
    "drink/summer/beverage": (DRINK, r"after the variable name 'location', found '\?'"),
    "drink/winter/beverage": (DRINK, r"after the variable name 'location', found '\?'"),
}
# Notes: invalid.yaml is no collection in either (its top level is text), and problems() reports it here with its
# line; both refuse publicprompts/plush-toy (its entry uses ${animal}, which has no value).

# Case id -> "engine: what is missing", for cases that fail only because the engine lacks something: each becomes
# xfail(strict=True), so it turns red once the engine has it. Empty: the engine of this tree has everything the cases
# use (names with spaces, dynamic names, `near`, one text once in a pick).
ENGINE_XFAIL: dict[str, str] = {}


def dp_test_data_cases() -> list[Case]:
    if dp_test_data_reason():
        return []
    names = sorted(engines("dp-test-data").manager.get_collection_names())
    cases = []
    for name in names:
        why, ours = DP_TEST_DATA_DIFFERENT.get(name, ("", None))
        cases.append(Case(f"dp-{name}", "dp-test-data", f"__{name}__", why, ours))
    return cases


def with_engine_marks(cases: list[Case]) -> list[Case]:
    return [replace(c, engine=ENGINE_XFAIL[c.id]) if c.id in ENGINE_XFAIL and not c.engine else c for c in cases]


def params(cases: list[Case]) -> list[object]:
    return [
        pytest.param(c, id=c.id, marks=[pytest.mark.xfail(strict=True, reason=c.engine)] if c.engine else [])
        for c in with_engine_marks(cases)
    ]


# -- outcomes and the summary ------------------------------------------------------------------------------------------

OUTCOMES: dict[str, dict[str, str]] = {"same": {}, "different": {}, "xfail": {}, "wrong": {}}


def outcome(case: Case) -> tuple[str, str]:
    """("same" | "different" | "xfail" | "wrong", what to say about it)."""
    pair = engines(case.collection)
    ours, theirs = pair.our_set(case.template), pair.their_set(case.template)
    both_refuse = isinstance(ours, Exception) and isinstance(theirs, Exception)
    same = ours == theirs or both_refuse
    if case.different:
        expected = case.ours
        if isinstance(expected, str):
            as_expected = isinstance(ours, TemplateError) and re.search(expected, str(ours)) is not None
        else:
            as_expected = ours == expected
        if as_expected and not same:
            return "different", case.different
        detail = f"expected a difference ({case.different}); ours: {_show(ours)}; theirs: {_show(theirs)}"
    else:
        if same:
            return "same", ""
        detail = f"ours: {_show(ours)}; theirs: {_show(theirs)}"
    return ("xfail", f"{case.engine} -- {detail}") if case.engine else ("wrong", detail)


def _show(result: object) -> str:
    if isinstance(result, Exception):
        return f"{type(result).__name__}: {result}"
    assert isinstance(result, frozenset)
    shown = sorted(result)
    return repr(shown[:12])[:-1] + (f", ... {len(shown)} in all]" if len(shown) > 12 else "]")


def check(case: Case) -> None:
    kind, detail = outcome(case)
    OUTCOMES[kind][f"{case.collection}: {case.template!r}" if kind != "different" else case.id] = detail
    assert kind in ("same", "different"), detail


def summary_lines() -> list[str]:
    counts = ", ".join(f"{len(v)} {k}" for k, v in OUTCOMES.items())
    lines = [f"dynamicprompts differential: {counts}"]
    for kind in ("different", "xfail", "wrong"):
        for key, detail in OUTCOMES[kind].items():
            lines.append(f"  {kind}: {key}: {detail}")
    return lines


@pytest.fixture(scope="module", autouse=True)
def _print_summary(request):
    yield
    if not any(OUTCOMES.values()):
        return
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        for line in ["", *summary_lines()]:
            if reporter:
                reporter.write_line(line)
            else:
                print(line)


# -- (a) our own collection, (b) dynamicprompts' test collections, (c) dynamicprompts' docs --------------------------


@pytest.mark.parametrize("case", params(SHAPES))
def test_our_collection_agrees(case):
    check(case)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.function.__name__ == "test_dynamicprompts_test_collections_agree":
        reason = dp_test_data_reason()
        values = params(dp_test_data_cases()) if not reason else [pytest.param(None, marks=pytest.mark.skip(reason))]
        metafunc.parametrize("case", values)


def test_dynamicprompts_test_collections_agree(case):
    check(case)


@pytest.mark.parametrize("case", params(DOCS))
def test_dynamicprompts_docs_examples_agree(case):
    check(case)


def names_and_problems(collection: str) -> tuple[set[str], set[str], list[tuple[str, int | None, str]]]:
    pair = engines(collection)
    problems = [(Path(p.file).relative_to(pair.root).as_posix(), p.line, p.message) for p in pair.ours.problems()]
    return set(pair.ours.names()), set(pair.manager.get_collection_names()), problems


def test_our_collection_loads_what_dynamicprompts_loads():
    ours, theirs, problems = names_and_problems(S)
    assert ours == theirs
    assert problems == [
        ("pantry.yaml", None, "key artists/9: a key must be text, not the number 9: left out"),
        (
            "pantry.yaml",
            None,
            "key artists/count holds the number 42, not a list or text: left out (quote it to make it text)",
        ),
        (
            "pantry.yaml",
            None,
            "pantry.yaml, key weights/numbers item 1: the number 7 is not text: left out (quote it to make it text)",
        ),
    ]


def test_dynamicprompts_test_collections_load_the_same_names():
    if reason := dp_test_data_reason():
        pytest.skip(reason)
    ours, theirs, problems = names_and_problems("dp-test-data")
    assert ours == theirs
    assert ("invalid.yaml", 2) in [(file, line) for file, line, _ in problems]


def test_docs_collection_names():
    ours, theirs, problems = names_and_problems(D)
    assert ours == theirs
    assert [(f, line) for f, line, _ in problems] == [
        ("broken.json", 4),
        ("example.yaml", None),
        ("example.yaml", None),
    ]


# -- random templates ------------------------------------------------------------------------------------------------

FILES = {
    "colors.txt": "# shades\ncolor1\ncolor2\n\ncolor3\n",
    "nested.txt": "nest1 {nest2|nest3}\n__colors__ nest4\n",
    # no weights here: dynamicprompts lists an entry of weight 2 twice in combinatorial mode
    "pack/animals.yaml": "animals:\n  pets: [pet1, pet2]\n  wild: [wild1, wild2]\n",
    "pack/moods.json": '{"moods": ["mood1", "mood2", "mood3"]}',
}
WILDCARDS = ["__colors__", "__nested__", "__pack/animals/pets__", "__pack/animals/*__", "__pack/moods__"]


@st.composite
def body(draw, counter, depth):
    def word():
        counter[0] += 1
        return f"w{counter[0]}"

    parts = []
    for _ in range(draw(st.integers(1, 3))):
        kinds = ["text", "variant", "pick", "default"] if depth < 2 else ["text", "default"]
        kind = draw(st.sampled_from(kinds))
        if kind == "text":
            parts.append(word())
        elif kind == "default":
            parts.append("${undefined" + str(counter[0]) + ":{" + word() + "|" + word() + "}}")
        else:
            options = [draw(body(counter, depth + 1)) for _ in range(draw(st.integers(1, 3)))]
            if kind == "variant":
                weights = [draw(st.sampled_from(["", "3::", "0.5::"])) for _ in options]
                parts.append("{" + "|".join(w + o for w, o in zip(weights, options, strict=False)) + "}")
            else:
                lo = draw(st.integers(1, len(options)))
                hi = draw(st.integers(lo, len(options) + 1))
                joiner = draw(st.sampled_from(["", " and $$", " $$"]))
                parts.append("{" + f"{lo}-{hi}$${joiner}" + "|".join(options) + "}")
    return " ".join(parts)


@st.composite
def templates(draw):
    counter = [0]
    parts = []
    if draw(st.booleans()):
        parts.append("${v={" + "|".join(f"var{i}" for i in range(draw(st.integers(1, 3)))) + "}}")
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["body", "wildcard", "ref"]))
        if kind == "wildcard":
            parts.append(draw(st.sampled_from(WILDCARDS)))
        elif kind == "ref" and parts and parts[0].startswith("${v="):
            parts.append("${v}")
        else:
            parts.append(draw(body(counter, 0)))
    return " ".join(parts)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = write_files(tmp_path_factory.mktemp("wildcards"), FILES)
    return WildcardLibrary([root], rescan_interval=3600), CombinatorialPromptGenerator(WildcardManager(root))


@pytest.mark.parametrize(
    "template",
    [
        "a {red|green|blue} {cat|dog}",
        "{2$$a|b|c}",
        "{1-3$$ and $$a|{b|c}|d}",
        "{-2$$a|b|c}",
        "{2-$$a|b|c}",
        "{3::a|0.5::{b|c}}",
        "x __colors__ y __nested__",
        "__pack/animals/*__",
        "{2$$__colors__}",
        "${v={a|b}}${v} ${v}",
        "${w:{p|q}} tail",
        "(masterpiece:1.2), [cat|dog], <lora:x:0.8> BREAK {a|b} AND c",
    ],
)
def test_known_templates_agree(template, generated):
    ours, theirs = generated
    expected = theirs.generate(template, max_prompts=10_000)
    got = Expansion(template, wildcards=ours).combinations(limit=None)
    assert sorted(got) == sorted(expected)


@settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
@given(template=templates())
def test_generated_templates_agree(template, generated):
    ours, theirs = generated
    expansion = Expansion(template, wildcards=ours)
    if expansion.count > 400:
        return
    got = expansion.combinations()
    expected = theirs.generate(template, max_prompts=expansion.count + 50)
    assert sorted(got) == sorted(expected), template


def main(run: Callable[[Case], None] = check) -> int:
    """Run the cases without pytest and print the summary; the exit status is the number of wrong cases."""
    for case in with_engine_marks([*SHAPES, *dp_test_data_cases(), *DOCS]):
        with contextlib.suppress(AssertionError):  # counted in OUTCOMES
            run(case)
    if reason := dp_test_data_reason():
        print(f"(b) skipped: {reason}")
    print("\n".join(summary_lines()))
    return len(OUTCOMES["wrong"])


if __name__ == "__main__":
    sys.exit(main())
