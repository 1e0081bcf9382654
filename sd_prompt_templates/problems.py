"""The problems that stop a request from becoming a plan: each names the request field at fault (and the line and
column, for template errors). The API turns them into 4xx answers, the tab and the Script into visible messages."""

from __future__ import annotations

from collections.abc import Sequence

from sd_prompt_templates.library import FieldProblem

Problem = FieldProblem  # a field at fault, its message, and where in a template when that applies


class PlanError(ValueError):
    """The request cannot be turned into prompts; `problems` say which field and why."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


class UnknownTemplate(PlanError):
    """The request names a library template that does not exist."""
