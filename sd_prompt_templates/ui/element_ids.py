"""Every element id and CSS class the extension creates, from one prefix; style.css and javascript/ use only these."""

PREFIX = "prompt-templates"
CLASS = PREFIX  # classes: prompt-templates-error, prompt-templates-info, ...
TAB = "prompt_templates"  # the WebUI makes the tab's id "tab_prompt_templates" from it


def script(is_img2img: bool, item: str) -> str:
    return f"{PREFIX}-{'img2img' if is_img2img else 'txt2img'}-{item}"


def tab(item: str) -> str:
    return f"{PREFIX}-tab-{item}"


SCRIPT_CLASS = f"{PREFIX}-script"
INFO_CLASS = f"{PREFIX}-info"
ERROR_CLASS = f"{PREFIX}-error"  # carries data-field/-line/-column when the error has a position
NAMES_CLASS = f"{PREFIX}-names"  # hidden element with the names the editor's autocomplete offers
TOOL_CLASS = f"{PREFIX}-tool"
EDITOR_CLASS = f"{PREFIX}-editor"  # template text areas that get autocomplete and Ctrl+Enter
JOBS_CLASS = f"{PREFIX}-jobs"  # the Jobs section's table; its rows carry data-job and data-status
JOB_STATUS_CLASS = f"{PREFIX}-job-status"
PROGRESS_CLASS = f"{PREFIX}-progress"  # a job's progress bar: a span as wide as the part done, and the percent
