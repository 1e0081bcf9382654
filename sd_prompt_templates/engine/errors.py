from __future__ import annotations


class TemplateError(ValueError):
    """A template cannot be parsed or expanded. Carries the 1-based line and column where it went wrong, or None
    for problems that have no place in the text (a limit of the request, a bad offset)."""

    def __init__(
        self, message: str, line: int | None = None, column: int | None = None, *, source: str | None = None
    ) -> None:
        self.message = message
        self.line = line
        self.column = column
        self.source = source
        super().__init__(message if line is None else f"line {line}, column {column}: {message}")

    def excerpt(self) -> str:
        """The offending source line with a caret under the column, for terminals and logs."""
        if self.source is None or self.line is None:
            return ""
        return excerpt(self.source, self.line, self.column or 1)

    def as_dict(self) -> dict[str, object]:
        return {"message": self.message, "line": self.line, "column": self.column}


class TemplateLimitError(TemplateError):
    """A template or request goes over a configured limit; raised before any expansion work."""


def excerpt(source: str, line: int, column: int) -> str:
    """Line `line` of `source` with a caret under `column` (both from 1)."""
    lines = source.splitlines() or [""]
    text = lines[min(line, len(lines)) - 1]
    return f"{text}\n{' ' * (column - 1)}^"


def position(source: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of a character offset."""
    line = source.count("\n", 0, offset) + 1
    column = offset - (source.rfind("\n", 0, offset) + 1) + 1
    return line, column


def error_at(source: str, offset: int, message: str, cls: type[TemplateError] = TemplateError) -> TemplateError:
    line, column = position(source, offset)
    return cls(message, line, column, source=source)
