"""The Prompt Templates tab on the real WebUI's page, in Chromium: write, preview, see an error pointed at, generate
a captioned batch with the progress bar, send one to txt2img, find the template again after a reload."""

import os
import re
import uuid
from pathlib import Path

import pytest

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

SHOTS = Path(__file__).resolve().parents[1] / "browser" / "screenshots"


def log_in(page, webui_url, webui):
    """A page behind a login (SD.Next's --auth; /login_check answers 401): log in as a user does, through the
    page's own login form (SD.Next's login.js: #loginUsername, #loginPassword; it posts to `location.href + login`,
    so it is filled on the bare URL, then reloads the page logged in)."""
    if page.request.get(f"{webui_url}/login_check").status != 401:
        return
    if not webui.auth:
        pytest.skip("the page needs its login: set SD_WEBUI_AUTH to the WebUI's --auth user:password")
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(f"{webui_url}/")
    form = page.locator("#loginUsername")
    try:
        form.wait_for(timeout=30_000)
    except PlaywrightTimeout:
        pytest.skip("SD.Next's page needs its login: no login form (#loginUsername) appeared on the page")
    form.fill(webui.auth[0])
    page.locator("#loginPassword").fill(webui.auth[1])
    with page.expect_navigation():  # its script reloads the page once /login answers 200
        page.locator("#loginForm button[type=submit]").click()
    assert page.request.get(f"{webui_url}/login_check").status == 200, "the login form did not log in"


@pytest.fixture(scope="module")
def page(webui_url, webui):
    playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    if not CHROMIUM.exists():
        pytest.skip("apt-get install chromium")
    theme = os.environ.get("SD_WEBUI_THEME", "light")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1300})
        page.set_default_timeout(60_000)
        playwright_api.expect.set_options(timeout=30_000)  # the WebUI's queue may be busy with other tests' work
        log_in(page, webui_url, webui)
        served = page.goto(f"{webui_url}/?__theme={theme}")
        if page.locator("#tab_prompt_templates").count() == 0:
            page.wait_for_timeout(5_000)
        if page.locator("#tab_prompt_templates").count() == 0 and served is not None and served.status == 404:
            browser.close()
            pytest.skip("this WebUI serves no page (--nowebui)")
        try:  # a page is served: the tab must be on it (a slow page gets another minute)
            page.locator("#tab_prompt_templates").wait_for(state="attached", timeout=60_000)
        except playwright_api.TimeoutError:
            browser.close()
            pytest.fail("the WebUI serves its page but no Prompt Templates tab (#tab_prompt_templates): see its log")
        page.theme = theme
        yield page
        browser.close()


def shot(page, name):
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"webui-{page.theme}-{name}.png"))


def open_tab(page):
    page.locator("#tabs > .tab-nav button", has_text="Prompt Templates").click()
    page.locator("#prompt-templates-tab-prompt textarea").wait_for()


@pytest.fixture
def name(webui):
    name = f"webui-tab-{uuid.uuid4().hex[:6]}"
    yield name
    webui.ours("DELETE", f"/templates/{name}")  # leave the user's library as it was


def test_write_preview_error_generate_send_and_reload(page, name):
    from playwright.sync_api import expect

    open_tab(page)
    page.locator("#prompt-templates-tab-new").click()
    # New clears the editor when its answer comes: typing before that would be wiped
    expect(page.locator("#prompt-templates-tab-status").first).to_contain_text("A new template")
    page.locator("#prompt-templates-tab-name textarea").fill(name)
    page.locator("#prompt-templates-tab-prompt textarea").fill("a {red|blue} ${animal} in a __colors__ hat")
    page.locator("#prompt-templates-tab-values textarea").fill("animal = fox")
    page.locator("#prompt-templates-tab-mode").get_by_text("combinatorial").click()
    page.locator("#prompt-templates-tab-count input").fill("3")
    info = page.locator("#prompt-templates-tab-preview-info").first
    expect(info).to_contain_text("combinations (showing 3)")
    shot(page, "preview")

    prompt = page.locator("#prompt-templates-tab-prompt textarea")
    prompt.fill("a {red|blue ${animal}")
    expect(info).to_contain_text("line 1, column 3")
    shot(page, "error")
    prompt.fill("a {red|blue} ${animal} in a __colors__ hat")
    expect(info).to_contain_text("combinations")

    page.locator("#prompt-templates-tab-steps input").fill("2")
    page.locator("#prompt-templates-tab-width input").fill("64")
    page.locator("#prompt-templates-tab-height input").fill("64")
    page.locator("#prompt-templates-tab-generate").click()
    images = page.locator("#prompt-templates-tab-gallery img")
    expect(images).to_have_count(3)
    expect(page.locator("#prompt-templates-tab-gallery")).to_contain_text("a red fox in a")
    expect(page.locator("#prompt-templates-tab-generation-info").first).to_contain_text("3 images")
    shot(page, "gallery")

    images.nth(1).click()
    expect(page.locator("#prompt-templates-tab-infotext textarea")).to_have_value(
        re.compile(r"^a red fox in a .* hat\n")
    )
    # the WebUI's own send buttons: "Send to txt2img" (A1111, Forge), "➠ Text" (SD.Next)
    page.locator("#tab_prompt_templates button", has_text=re.compile(r"^\s*(Send to txt2img|➠ Text)\s*$")).click()
    expect(page.locator("#txt2img_prompt textarea")).to_have_value("a {red|blue} ${animal} in a __colors__ hat")
    expect(page.locator("#prompt-templates-txt2img-enabled input")).to_be_checked()
    expect(page.locator("#prompt-templates-txt2img-variables textarea")).to_have_value("animal = fox")
    shot(page, "sent-to-txt2img")

    open_tab(page)
    page.get_by_text("Description, variables and default parameters").click()
    first_cell = page.locator("#prompt-templates-tab-variables tbody").last.locator("td").first
    first_cell.dblclick()
    page.keyboard.type("animal")
    page.keyboard.press("Enter")
    expect(first_cell).to_have_text("animal")
    page.locator("#prompt-templates-tab-save").click()
    expect(page.locator("#prompt-templates-tab-status").first).to_contain_text(f"Saved '{name}'")
    page.reload()
    open_tab(page)
    expect(page.locator("#prompt-templates-tab-list").get_by_text(name, exact=True)).to_have_count(1)


def test_autocomplete_offers_wildcards_and_variables_and_ctrl_enter_previews(page):
    from playwright.sync_api import expect

    open_tab(page)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    area = page.locator("#prompt-templates-tab-prompt textarea")
    area.fill("")
    area.type("a ${animal} in a __col")
    menu = page.locator(".prompt-templates-completions")
    expect(menu).to_contain_text("__colors__")
    menu.get_by_text("__colors__").click()
    expect(area).to_have_value("a ${animal} in a __colors__")
    area.type(" and ${ani")
    page.locator(".prompt-templates-completions").get_by_text("${animal}").click()
    expect(area).to_have_value("a ${animal} in a __colors__ and ${animal}")
    page.locator("#prompt-templates-tab-values textarea").fill("animal = owl")
    page.locator("#prompt-templates-tab-seed input").fill("77")
    area.press("Control+Enter")
    expect(page.locator("#prompt-templates-tab-preview")).to_contain_text("a owl in a")
    assert errors == []


def test_interrupt_stops_the_generation(page):
    from playwright.sync_api import expect

    page.reload()  # no gallery left from an earlier test
    open_tab(page)
    page.locator("#prompt-templates-tab-prompt textarea").fill("a {red|blue|green|teal} cat")
    page.locator("#prompt-templates-tab-mode").get_by_text("random").click()
    page.locator("#prompt-templates-tab-count input").fill("6")
    page.locator("#prompt-templates-tab-steps input").fill("30")
    page.locator("#prompt-templates-tab-width input").fill("512")
    page.locator("#prompt-templates-tab-height input").fill("512")
    page.locator("#prompt-templates-tab-generate").click()
    page.wait_for_timeout(2_500)
    page.locator("#prompt-templates-tab-interrupt").click()
    info = page.locator("#prompt-templates-tab-generation-info").first
    expect(info).to_contain_text("images from", timeout=120_000)
    assert page.locator("#prompt-templates-tab-gallery img").count() < 6


def test_queue_three_runs_from_the_tab_and_watch_them_finish(page, webui):
    """Queue beside Generate on the real page: three runs become three jobs that the WebUI's worker makes one after
    another, the Jobs list following them by itself; Open shows a job's images with their prompts."""
    from playwright.sync_api import expect

    page.reload()
    open_tab(page)
    page.locator("#prompt-templates-tab-prompt textarea").fill("a queued {red|blue} boat")
    page.locator("#prompt-templates-tab-mode").get_by_text("combinatorial").click()
    page.locator("#prompt-templates-tab-count input").fill("2")
    page.locator("#prompt-templates-tab-seed input").fill("31")
    for field, value in (("steps", "2"), ("width", "64"), ("height", "64")):
        page.locator(f"#prompt-templates-tab-{field} input").fill(value)
    expect(page.locator("#prompt-templates-tab-preview")).to_contain_text("a queued blue boat")
    table = page.locator("#prompt-templates-tab-jobs-table").first
    before = table.locator("tr[data-job]").count()
    mine = []
    for queued in range(1, 4):
        page.locator("button#prompt-templates-tab-queue").click()
        expect(table.locator("tr[data-job]")).to_have_count(min(before + queued, 20))
        info = page.locator("#prompt-templates-tab-generation-info").first
        expect(info).to_contain_text("Queued job")
        mine.append(str(table.locator("tr[data-job]").first.get_attribute("data-job")))
    shot(page, "jobs-queued")
    for job_id in mine:  # nothing clicked: the list follows them until they are done
        expect(table.locator(f"tr[data-job='{job_id}'][data-status='succeeded']")).to_have_count(1, timeout=300_000)
    shot(page, "jobs-finished")
    page.locator("#prompt-templates-tab-job").get_by_role("radio", name=mine[-1][:8], exact=True).check()
    page.locator("button#prompt-templates-tab-job-open").click()
    expect(page.locator("#prompt-templates-tab-gallery img")).to_have_count(2)
    expect(page.locator("#prompt-templates-tab-gallery")).to_contain_text("a queued red boat")
    for job_id in mine:
        finished = webui.ours("GET", f"/jobs/{job_id}")
        if finished.status == 200:  # the API is on: the same jobs, with their images
            assert finished.body["prompts"] == ["a queued red boat", "a queued blue boat"]
            assert finished.body["seeds"] == [31, 32] and len(finished.body["images"]) == 2
