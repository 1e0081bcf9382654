# The WebUI runs this file; everything it does lives in the sd_prompt_templates package.
from sd_prompt_templates.webui import callbacks
from sd_prompt_templates.webui.script import PromptTemplatesScript  # noqa: F401  (the WebUI finds the Script here)

callbacks.register()
