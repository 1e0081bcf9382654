# Mirrors the parts of modules/shared.py (v1.10.1) that the extension reads.
from types import SimpleNamespace

from modules.options import OptionInfo, Options  # noqa: F401  (shared re-exports OptionInfo, as the real one does)

data_path = "."
cmd_opts = SimpleNamespace(
    api=True, nowebui=False, api_auth=None, cors_allow_origins=None, cors_allow_origins_regex=None
)
opts = Options()


class _State:
    def __init__(self):
        self.job_count, self.begun, self.ended, self.interrupted, self.skipped = -1, 0, 0, False, False

    def begin(self, job="(unknown)"):
        self.begun += 1
        self.job_count = -1
        self.interrupted = self.skipped = False  # as State.begin() clears them

    def end(self):
        self.ended += 1

    def interrupt(self):
        self.interrupted = True


state = _State()
sd_model = None


class _Styles:
    def apply_styles_to_prompt(self, prompt, styles):
        return prompt + "".join(f", {s}" for s in styles or [])

    def apply_negative_styles_to_prompt(self, prompt, styles):
        return prompt


prompt_styles = _Styles()
