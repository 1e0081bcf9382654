# Stands in for modules/ui_components.ToolButton (a small gradio Button). A function, not a subclass: gradio 4
# writes a .pyi file next to every Component subclass it sees defined.
import gradio as gr


def ToolButton(*args, **kwargs):
    return gr.Button(*args, **kwargs)
