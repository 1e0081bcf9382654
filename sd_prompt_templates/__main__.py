import sys

from sd_prompt_templates.cli import main

sys.exit(main(prog="python -m sd_prompt_templates"))
