"""The template library: saved templates, their validation, and import/export."""

from sd_prompt_templates.library.records import (
    FieldProblem,
    InvalidTemplate,
    TemplateDraft,
    TemplateRecord,
    VariableSpec,
    coerce_value,
    resolve_variables,
    validate_draft,
)
from sd_prompt_templates.library.store import (
    EXPORT_FORMAT,
    ImportReport,
    LibraryUnavailable,
    NewerSchema,
    OnConflict,
    StaleVersion,
    StoreError,
    TemplateExists,
    TemplateNotFound,
    TemplateStore,
    default_library_path,
)

__all__ = [
    "EXPORT_FORMAT",
    "FieldProblem",
    "ImportReport",
    "OnConflict",
    "InvalidTemplate",
    "LibraryUnavailable",
    "NewerSchema",
    "StaleVersion",
    "StoreError",
    "TemplateDraft",
    "TemplateExists",
    "TemplateNotFound",
    "TemplateRecord",
    "TemplateStore",
    "VariableSpec",
    "coerce_value",
    "default_library_path",
    "resolve_variables",
    "validate_draft",
]
