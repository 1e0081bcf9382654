# Mirrors SD.Next's modules/generation_parameters_copypaste.py (vladmandic/sdnext, master at 058a7f0c), where
# create_buttons, register_paste_params_button and ParamBinding live (its infotext_utils is a stub).
import gradio as gr

registered_param_bindings = []


class ParamBinding:
    def __init__(
        self,
        paste_button,
        tabname: str,
        source_text_component=None,
        source_image_component=None,
        source_tabname=None,
        override_settings_component=None,
        paste_field_names=None,
        skip_image: bool = False,
        only_prompt: bool = False,
    ):
        self.paste_button, self.tabname = paste_button, tabname
        self.source_text_component, self.source_image_component = source_text_component, source_image_component


def create_buttons(tabs_list, label_prefix="➠", label_override=None, id_suffix=""):
    return {tab: gr.Button(f"{label_prefix} {tab}", elem_id=f"{tab}_tab{id_suffix}") for tab in tabs_list}


def register_paste_params_button(binding: ParamBinding):
    registered_param_bindings.append(binding)
