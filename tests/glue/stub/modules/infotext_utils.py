# Mirrors modules/infotext_utils.py at v1.10.1: ParamBinding, create_buttons, register_paste_params_button.
import gradio as gr

registered_param_bindings = []


class ParamBinding:
    def __init__(
        self,
        paste_button,
        tabname,
        source_text_component=None,
        source_image_component=None,
        source_tabname=None,
        override_settings_component=None,
        paste_field_names=None,
    ):
        self.paste_button, self.tabname = paste_button, tabname
        self.source_text_component, self.source_image_component = source_text_component, source_image_component


def create_buttons(tabs_list):
    return {tab: gr.Button(f"Send to {tab}", elem_id=f"{tab}_tab") for tab in tabs_list}


def register_paste_params_button(binding):
    registered_param_bindings.append(binding)
