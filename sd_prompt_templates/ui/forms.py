"""An event's inputs read into one request object.

Gradio calls an event's function with the values of its input components, in their order. A `Form` pairs each field
of a frozen dataclass with its component, so that order is declared once, by the dataclass's fields: the event takes
`form.components` and its function gets `form.read(values)`. A field may hold a nested form, whose components take
its place, so one request can carry another whole (Generate's carries Preview's).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")
R = TypeVar("R")


@dataclass(frozen=True)
class Form(Generic[T]):
    kind: type[T]
    parts: tuple[tuple[str, Any], ...]  # (field, its component or a nested Form), in the dataclass's field order

    @property
    def components(self) -> list[Any]:
        """The event's input components, in the order gradio passes their values."""
        flat: list[Any] = []
        for _, part in self.parts:
            flat.extend(part.components if isinstance(part, Form) else [part])
        return flat

    def read(self, values: Sequence[Any]) -> T:
        """The request the components' values make."""
        if len(values) != len(self.components):
            raise TypeError(f"{self.kind.__name__} takes {len(self.components)} values, not {len(values)}")
        return self._take(iter(values))

    def _take(self, values: Iterator[Any]) -> T:
        given = {name: part._take(values) if isinstance(part, Form) else next(values) for name, part in self.parts}
        return self.kind(**given)

    def values(self, request: T) -> list[Any]:
        """A request's values in the components' order: what an event returns to show it in them."""
        flat: list[Any] = []
        for name, part in self.parts:
            value = getattr(request, name)
            flat.extend(part.values(value) if isinstance(part, Form) else [value])
        return flat

    def calling(self, fn: Callable[[T], R]) -> Callable[..., R]:
        """`fn`, which takes the request, as gradio calls it: with the components' values."""

        def call(*values: Any) -> R:
            return fn(self.read(values))

        # gradio 4 names the event's endpoint after it, and the WebUI its job
        call.__name__ = call.__qualname__ = getattr(fn, "__name__", "call")
        return call


def form(kind: type[T], **parts: Any) -> Form[T]:
    """The form of `kind`, given each field's component (or nested form) by the field's name: every field, no other."""
    names = [f.name for f in fields(kind)]
    missing, unknown = set(names) - set(parts), set(parts) - set(names)
    if missing or unknown:
        raise TypeError(f"{kind.__name__}: no component for {sorted(missing)}, no field for {sorted(unknown)}")
    return Form(kind, tuple((name, parts[name]) for name in names))
