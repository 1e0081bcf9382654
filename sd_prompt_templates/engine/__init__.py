"""The template language: parse, count and expand. Pure Python, no WebUI imports."""

from sd_prompt_templates.engine.compiler import (
    VariableValue,
    WildcardEntry,
    WildcardLookupError,
    WildcardSource,
    compile_template,
)
from sd_prompt_templates.engine.errors import TemplateError, TemplateLimitError
from sd_prompt_templates.engine.limits import DEFAULT_LIMITS, MAX_DEPTH, Limits
from sd_prompt_templates.engine.parser import Template, parse
from sd_prompt_templates.engine.render import MODES, Expansion, Mode, Rendered, fixed_seed, render

__all__ = [
    "DEFAULT_LIMITS",
    "MAX_DEPTH",
    "MODES",
    "Expansion",
    "Limits",
    "Mode",
    "Rendered",
    "Template",
    "TemplateError",
    "TemplateLimitError",
    "VariableValue",
    "WildcardEntry",
    "WildcardLookupError",
    "WildcardSource",
    "compile_template",
    "fixed_seed",
    "parse",
    "render",
]
