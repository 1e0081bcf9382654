"""The Prompt Templates tab, as a user drives it in a browser: hosted in a plain gradio app (tests/browser/app.py)
whose generation port draws placeholder images with the prompt written on them. No WebUI and no model."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from sd_prompt_templates.library import TemplateStore
from sd_prompt_templates.library.store import EXAMPLES
from sd_prompt_templates.ui import element_ids as ids
from tests.browser.conftest import GRADIO_MAJOR

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

    from tests.browser.conftest import PlainApp

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="browser tests need the playwright package: python -m pip install playwright"
)
expect = sync_api.expect

pytestmark = pytest.mark.browser

Screenshot = Callable[["Page", str], Path]

NAME = "browser-cat"
PROMPT = "a {red|blue} ${animal} in a __colors__ hat"
BROKEN = "a {red|blue"
VALUES = "animal = cat"
SEED = 1234
IMAGES = 3
REPO = Path(__file__).resolve().parents[2]
EXAMPLE_NAMES = [t["name"] for t in json.loads(EXAMPLES.read_text(encoding="utf-8"))["templates"]]


def wildcard_entries(name: str) -> list[str]:
    lines = (REPO / "wildcards" / f"{name}.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


COLORS = wildcard_entries("colors")
COMBINATIONS = 2 * len(COLORS)
PROMPT_RE = re.compile(rf"^\s*a (red|blue) cat in a ({'|'.join(map(re.escape, COLORS))}) hat\s*$")


class Tab:
    """The tab's parts, found by their element ids. Gradio puts an id on a wrapper (gradio 3 puts an HTML
    component's id on two nested elements, hence `.first`); the text box or input is inside it."""

    def __init__(self, page: Page) -> None:
        self.page = page

    def part(self, item: str) -> Locator:
        return self.page.locator(f"#{ids.tab(item)}").first

    def field(self, item: str) -> Locator:
        return self.part(item).locator("textarea, input:not([type=file])").first

    def button(self, item: str) -> Locator:
        return self.page.locator(f"button#{ids.tab(item)}")

    def template(self, name: str) -> Locator:
        return self.part("list").get_by_role("radio", name=name, exact=True)

    def fill(self, item: str, text: str) -> None:
        field = self.field(item)
        field.fill(text)
        field.blur()

    def preview_rows(self) -> Locator:
        # gradio 4 renders a hidden table to measure columns before the shown one: the last body is the shown one
        return self.part("preview").locator("tbody").last.locator("tr")

    def preview_column(self, column: int) -> Locator:
        return self.preview_rows().locator(f"td:nth-child({column + 1})")

    def thumbnails(self) -> Locator:
        return self.part("gallery").locator(".thumbnail-item")

    def jobs(self, status: str | None = None) -> Locator:
        """The Jobs table's rows, newest first; only those of a status if given."""
        selector = f"tr[data-job][data-status='{status}']" if status else "tr[data-job]"
        return self.part("jobs-table").locator(selector)

    def open_new_template(self) -> None:
        self.button("new").click()
        # its answer resets the editor: type only after it came, or it wipes what was typed
        expect(self.part("status")).to_contain_text("A new template")


def test_tab_in_plain_gradio_with_placeholder_images_edit_preview_save_generate_reload(
    tab_page: Page, screenshot: Screenshot
) -> None:
    page, tab = tab_page, Tab(tab_page)

    # The library's bundled examples are listed.
    expect(tab.part("list")).to_be_visible()
    for name in EXAMPLE_NAMES:
        expect(tab.template(name)).to_have_count(1)
    screenshot(page, "01-examples")

    # A new template; with ${animal} unset the preview says what is missing, then counts once it is given.
    tab.open_new_template()
    tab.fill("name", NAME)
    tab.fill("prompt", PROMPT)
    expect(tab.part("preview-info")).to_contain_text("'animal' has no value")
    tab.fill("seed", str(SEED))
    tab.fill("values", VALUES)
    expect(tab.part("preview-info")).to_contain_text(f"{COMBINATIONS:,} combinations (showing 4).")
    expect(tab.preview_column(0)).to_have_text([str(SEED + i) for i in range(4)])
    expect(tab.preview_column(1)).to_have_text([PROMPT_RE] * 4)
    screenshot(page, "02-preview")

    # Asking for fewer images changes the rows.
    tab.fill("count", str(IMAGES))
    expect(tab.part("preview-info")).to_contain_text(f"{COMBINATIONS:,} combinations (showing {IMAGES}).")
    expect(tab.preview_column(0)).to_have_text([str(SEED + i) for i in range(IMAGES)])
    expect(tab.preview_column(1)).to_have_text([PROMPT_RE] * IMAGES)
    previewed = [text.strip() for text in tab.preview_column(1).all_inner_texts()]
    if GRADIO_MAJOR == "3":  # each edit's preview was numbered, so an older one landing last changes nothing
        assert page.evaluate("() => window.promptTemplatesCalls.n") >= 4  # prompt, seed, values, count

    # A broken template: the error names its position, and shows the line with a caret under the column.
    tab.fill("prompt", BROKEN)
    info = tab.part("preview-info")
    expect(info).to_contain_text("prompt (line 1, column 3)")
    expect(info.locator("[data-field='prompt'][data-line='1'][data-column='3']")).to_have_count(1)
    expect(info.locator("pre")).to_have_text(f"{BROKEN}\n  ^")
    expect(tab.part("preview")).not_to_contain_text(" cat ")  # no prompts from before the error
    screenshot(page, "03-error")

    # Fixed, the same prompts come back (same seed).
    tab.fill("prompt", PROMPT)
    expect(info).to_contain_text(f"{COMBINATIONS:,} combinations (showing {IMAGES}).")
    expect(tab.preview_column(1)).to_have_text(previewed)

    # Declare the variable (a saved template must), then Save.
    page.get_by_text("Description, variables and default parameters").click()
    variables = tab.part("variables")
    expect(variables).to_be_visible()
    first_cell = variables.locator("tbody").last.locator("td").first
    first_cell.dblclick()
    page.keyboard.type("animal")
    page.keyboard.press("Enter")
    expect(first_cell).to_have_text("animal")
    tab.button("save").click()
    expect(tab.part("status")).to_contain_text(f"Saved '{NAME}' (version 1).")
    expect(tab.template(NAME)).to_be_checked()
    screenshot(page, "04-saved")

    # Generate: one captioned placeholder image per prompt asked for, the prompts the preview showed.
    tab.button("generate").click()
    expect(tab.thumbnails()).to_have_count(IMAGES)
    expect(tab.part("generation-info")).to_contain_text(f"{IMAGES} images from '{NAME}'.")
    expect(tab.part("gallery").locator(".caption-label")).to_have_text(previewed)
    for image in tab.thumbnails().locator("img").all():
        image.scroll_into_view_if_needed()
        expect(image).to_have_js_property("complete", True)
        assert image.evaluate("img => img.naturalWidth") == 256  # the placeholder port draws at half the width
    screenshot(page, "05-gallery")

    # Picking an image shows its infotext.
    tab.thumbnails().first.click()
    expect(tab.field("infotext")).to_have_value(re.compile(rf"^{re.escape(previewed[0])}\nSeed: {SEED}, "))

    # After a reload the template is still listed, and opens as saved.
    page.reload()
    expect(tab.part("list")).to_be_visible()
    expect(tab.template(NAME)).to_have_count(1)
    tab.template(NAME).check()
    expect(tab.part("status")).to_contain_text(f"Editing '{NAME}', version 1.")
    expect(tab.field("prompt")).to_have_value(PROMPT)
    expect(tab.field("name")).to_have_value(NAME)
    screenshot(page, "06-reloaded")


def test_tab_in_plain_gradio_reloaded_page_lists_templates_saved_since_start(
    tab_page: Page, plain_app: PlainApp, screenshot: Screenshot
) -> None:
    """The list's choices are made when the page is built: the page's load event must refresh them."""
    TemplateStore(plain_app.library_file).create({"name": "saved-after-start", "prompt": "a fox"})
    tab_page.reload()
    tab = Tab(tab_page)
    expect(tab.part("list")).to_be_visible()
    screenshot(tab_page, "reloaded")
    expect(tab.template("saved-after-start")).to_have_count(1)


def test_tab_in_plain_gradio_refused_save_shows_its_problems(tab_page: Page, screenshot: Screenshot) -> None:
    tab = Tab(tab_page)
    tab.open_new_template()
    tab.fill("name", "refused-save")
    tab.fill("prompt", PROMPT)  # ${animal} is not declared: the library refuses it
    tab.button("save").click()
    status = tab.part("status")
    expect(status).to_contain_text("is used but not declared", timeout=5_000)
    tab_page.wait_for_timeout(1_000)  # what the list's change handler would write comes within this
    screenshot(tab_page, "refused")
    expect(status).to_contain_text("is used but not declared", timeout=1_000)
    expect(status).not_to_contain_text("Error binding parameter", timeout=1_000)


def test_tab_in_plain_gradio_saved_message_stays(tab_page: Page, screenshot: Screenshot) -> None:
    """Save selects the saved template in the list, which fires the list's change handler: it must not replace
    "Saved ..." with "Editing ..."."""
    tab = Tab(tab_page)
    tab.open_new_template()
    tab.fill("name", "saved-message")
    tab.fill("prompt", "a plain prompt")
    tab.button("save").click()
    expect(tab.template("saved-message")).to_be_checked()
    tab_page.wait_for_timeout(1_000)  # the change handler's answer comes within this
    screenshot(tab_page, "saved")
    expect(tab.part("status")).to_contain_text("Saved 'saved-message' (version 1).", timeout=1_000)


@pytest.mark.parametrize("renamed", [False, True], ids=["new-among-others", "renamed"])
def test_tab_in_plain_gradio_saved_message_stays_where_the_list_had_a_radio(
    tab_page: Page, plain_app: PlainApp, screenshot: Screenshot, renamed: bool
) -> None:
    """Save sets the list to the saved name. Where a radio already on the page takes that name (a new name that
    sorts among the others, a rename), gradio 4.40's radio fires `input` as if the user had picked it: the
    editor holds that version already, and "Saved ..." stays."""
    tab, prefix = Tab(tab_page), f"among-{int(renamed)}"
    store = TemplateStore(plain_app.library_file)
    for name in (f"{prefix}-a", f"{prefix}-c"):
        store.create({"name": name, "prompt": "a fox"})
    tab_page.reload()
    expect(tab.template(f"{prefix}-c")).to_have_count(1)
    if renamed:
        tab.template(f"{prefix}-c").check()
        expect(tab.part("status")).to_contain_text(f"Editing '{prefix}-c', version 1.")
        saved = f"Saved '{prefix}-b' (version 2)."
    else:
        tab.open_new_template()
        tab.fill("prompt", "a plain prompt")
        saved = f"Saved '{prefix}-b' (version 1)."
    tab.fill("name", f"{prefix}-b")
    tab.button("save").click()
    expect(tab.template(f"{prefix}-b")).to_be_checked()
    tab_page.wait_for_timeout(1_000)  # a select event's answer comes within this
    screenshot(tab_page, f"saved-{int(renamed)}")
    expect(tab.part("status")).to_contain_text(saved, timeout=1_000)


def test_tab_in_plain_gradio_queue_three_runs_and_watch_them_finish(tab_page: Page, screenshot: Screenshot) -> None:
    """Queue beside Generate: three runs become three jobs, which the app's worker runs one after another while
    the Jobs list shows them again by itself until they are done; Open shows a job's images with their prompts."""
    page, tab = tab_page, Tab(tab_page)
    expect(tab.part("jobs-table")).to_contain_text("No jobs yet")
    tab.open_new_template()
    tab.fill("prompt", "a {red|blue} ${animal} in a queue")
    tab.fill("values", VALUES)
    tab.fill("count", "2")
    tab.fill("seed", str(SEED))
    expect(tab.preview_column(0)).to_have_text([str(SEED), str(SEED + 1)])  # the last edit's preview is in
    previewed = [text.strip() for text in tab.preview_column(1).all_inner_texts()]  # what each job makes

    for queued in range(1, 4):
        tab.button("queue").click()
        expect(tab.jobs()).to_have_count(queued)  # each answer shows the list again, the new job on top
        expect(tab.part("generation-info")).to_contain_text(re.compile(r"Queued job \w{8} \(2 images, "))
    screenshot(page, "01-queued")

    # No Refresh clicked: the list shows itself again while jobs are queued or running.
    expect(tab.jobs("succeeded")).to_have_count(3, timeout=60_000)
    bars = tab.part("jobs-table").locator("[role=progressbar][aria-valuenow='100']")
    expect(bars).to_have_count(3)
    assert {bar.evaluate("e => e.firstElementChild.style.width") for bar in bars.all()} == {"100%"}
    expect(tab.part("jobs-table").locator("td", has_text=re.compile(r"^2/2$"))).to_have_count(3)
    screenshot(page, "02-finished")

    newest = str(tab.jobs().first.get_attribute("data-job"))
    tab.part("job").get_by_role("radio", name=newest[:8], exact=True).check()
    tab.button("job-open").click()
    expect(tab.part("jobs-info")).to_contain_text(f"Job {newest[:8]} (succeeded): 2 of 2 images.")
    expect(tab.thumbnails()).to_have_count(2)
    expect(tab.part("gallery").locator(".caption-label")).to_have_text(previewed)
    tab.thumbnails().first.click()
    expect(tab.field("infotext")).to_have_value(re.compile(rf"^{re.escape(previewed[0])}\nSeed: {SEED}, "))
    screenshot(page, "03-opened")

    # A finished job is not cancelled; it runs again as a new job, with the same prompts and seeds.
    tab.button("job-cancel").click()
    expect(tab.part("jobs-info")).to_contain_text(f"Job {newest[:8]} already succeeded: nothing to cancel.")
    tab.button("job-rerun").click()
    expect(tab.part("jobs-info")).to_contain_text(f"Queued job {newest[:8]} again as ")
    expect(tab.jobs()).to_have_count(4)
    expect(tab.jobs("succeeded")).to_have_count(4, timeout=60_000)
