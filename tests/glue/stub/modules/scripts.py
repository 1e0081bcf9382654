# Mirrors modules/scripts.py at v1.10.1: Script, AlwaysVisible, and a ScriptRunner whose hooks run each Script
# inside try/except (errors are reported, the generation goes on), as the real one does.
import traceback

AlwaysVisible = object()


class Script:
    args_from = None
    args_to = None
    alwayson = False
    infotext_fields = None
    paste_field_names = None

    def title(self):
        raise NotImplementedError

    def show(self, is_img2img):
        return True

    def ui(self, is_img2img):
        pass

    def before_process(self, p, *args):
        pass

    def process(self, p, *args):
        pass


class ScriptRunner:
    def __init__(self, scripts):
        self.alwayson_scripts = []
        self.inputs = [None]
        self.errors = []
        for script in scripts:
            script.alwayson = script.show(False) is AlwaysVisible
            import gradio as gr

            with gr.Blocks():
                controls = script.ui(False) or []
            script.args_from = len(self.inputs)
            script.args_to = script.args_from + len(controls)
            self.inputs.extend(controls)
            self.alwayson_scripts.append(script)

    def _each(self, hook, p):
        for script in self.alwayson_scripts:
            try:
                getattr(script, hook)(p, *p.script_args[script.args_from : script.args_to])
            except Exception:
                self.errors.append(traceback.format_exc())

    def before_process(self, p):
        self._each("before_process", p)

    def process(self, p):
        self._each("process", p)
