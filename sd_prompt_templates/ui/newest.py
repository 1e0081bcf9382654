"""Only the newest answer of an event a page sends again and again (each edit's preview) is shown. Gradio 3.41
sends each edit's event on its own connection, so they reach the server in any order, and runs them side by side
(the WebUI's queue runs 64 at once): without this an older preview that ends last replaces a newer one. The page
numbers its calls (`STAMP_JS`: "page:n"); an answer whose call is older than the newest one the page asked for is
no change. Gradio 4 needs none of this: its `trigger_mode="always_last"` does the same."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

# the event's first input becomes "page:n", n counting the page's calls; gradio 3 hands the script the inputs then
# the outputs, and sends what it returns (the inputs it does not know are left out)
STAMP_JS = (
    "(...args) => { const s = window.promptTemplatesCalls = window.promptTemplatesCalls || "
    "{page: Math.random().toString(36).slice(2), n: 0}; s.n += 1; return [s.page + ':' + s.n, ...args.slice(1)]; }"
)
PAGES_KEPT = 256  # pages remembered; a page forgotten shows its next answer whatever it is


class NewestOnly:
    """The newest call each page made, by its stamp."""

    def __init__(self, pages: int = PAGES_KEPT) -> None:
        self._newest: OrderedDict[str, int] = OrderedDict()
        self._pages = pages
        self._lock = threading.Lock()

    def begin(self, stamp: str) -> bool:
        """A call begins: False if the page has asked for a newer one already (this one need not run)."""
        page, n = _parsed(stamp)
        if page is None:
            return True
        with self._lock:
            if n < self._newest.get(page, 0):
                return False
            self._newest[page] = n
            self._newest.move_to_end(page)
            while len(self._newest) > self._pages:
                self._newest.popitem(last=False)
            return True

    def still_newest(self, stamp: str) -> bool:
        """A call ends: True unless the page asked for a newer one meanwhile."""
        page, n = _parsed(stamp)
        if page is None:
            return True
        with self._lock:
            return self._newest.get(page, n) <= n

    def wrap(self, fn: Callable[..., list[Any]], no_change: list[Any]) -> Callable[..., list[Any]]:
        """`fn` as an event's function whose first input is the stamp: an older call answers `no_change`."""

        def newest_only(stamp: str, *values: Any) -> list[Any]:
            if not self.begin(stamp):
                return no_change
            answer = fn(*values)
            return answer if self.still_newest(stamp) else no_change

        newest_only.__name__ = newest_only.__qualname__ = getattr(fn, "__name__", "newest_only")
        return newest_only


def _parsed(stamp: Any) -> tuple[str | None, int]:
    page, _, n = str(stamp or "").rpartition(":")
    return (page, int(n)) if page and n.isdigit() else (None, 0)
