# The WebUI runs this file; everything it does lives in the sd_prompt_templates package.
from sd_prompt_templates.webui import callbacks

callbacks.register()
