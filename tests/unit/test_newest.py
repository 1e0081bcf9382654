"""ui/newest.py: of the previews a page asks for one after another, only the newest one's answer is shown, whatever
order the calls reach the server in and end in (gradio 3.41 sends and runs them side by side)."""

from __future__ import annotations

import threading

from sd_prompt_templates.ui.newest import NewestOnly

NO_CHANGE = ["unchanged", "unchanged"]


def recording() -> tuple[list[str], object]:
    ran: list[str] = []

    def preview(text: str) -> list[str]:
        ran.append(text)
        return [text, text.upper()]

    return ran, preview


def test_calls_in_order_each_show_their_answer():
    ran, preview = recording()
    newest = NewestOnly().wrap(preview, NO_CHANGE)
    assert newest("p:1", "a") == ["a", "A"]
    assert newest("p:2", "ab") == ["ab", "AB"]
    assert ran == ["a", "ab"]


def test_an_older_call_that_arrives_after_a_newer_one_does_not_run_and_changes_nothing():
    ran, preview = recording()
    newest = NewestOnly().wrap(preview, NO_CHANGE)
    assert newest("p:2", "ab") == ["ab", "AB"]
    assert newest("p:1", "a") == NO_CHANGE
    assert ran == ["ab"]


def test_an_older_call_that_ends_after_a_newer_one_began_changes_nothing():
    order = NewestOnly()
    older_running, newer_done = threading.Event(), threading.Event()

    def preview(text: str) -> list[str]:
        if text == "a":
            older_running.set()
            assert newer_done.wait(10)
        return [text, text.upper()]

    newest = order.wrap(preview, NO_CHANGE)
    answers: dict[str, list[str]] = {}
    older = threading.Thread(target=lambda: answers.update(a=newest("p:1", "a")))
    older.start()
    assert older_running.wait(10)
    answers["ab"] = newest("p:2", "ab")
    newer_done.set()
    older.join(10)
    assert answers == {"ab": ["ab", "AB"], "a": NO_CHANGE}


def test_pages_are_counted_apart_and_calls_without_a_stamp_always_show():
    _, preview = recording()
    newest = NewestOnly().wrap(preview, NO_CHANGE)
    assert newest("page-one:5", "x") == ["x", "X"]
    assert newest("page-two:1", "y") == ["y", "Y"]  # another page's first call
    for stamp in ("", None, "no-number", "page-one:"):  # an API client, or a page without the script
        assert newest(stamp, "z") == ["z", "Z"]


def test_only_the_newest_pages_are_remembered():
    order = NewestOnly(pages=2)
    assert order.begin("a:5") and order.begin("b:1") and order.begin("c:1")  # "a" is forgotten
    assert order.begin("a:1")  # shown: nothing newer is known of page "a" any more; "b" is forgotten now
    assert not order.begin("c:0") and not order.still_newest("a:0")  # the two remembered
    assert order.still_newest("b:0")


def test_the_wrapped_function_keeps_the_name_gradio_names_its_endpoint_after():
    def run_preview() -> list[str]:
        return []

    assert NewestOnly().wrap(run_preview, []).__name__ == "run_preview"
