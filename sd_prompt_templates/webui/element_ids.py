"""Every element id and CSS class the extension creates, from one prefix; style.css and javascript/ use only these."""

PREFIX = "prompt-templates"


def script(is_img2img: bool, item: str) -> str:
    return f"{PREFIX}-{'img2img' if is_img2img else 'txt2img'}-{item}"


SCRIPT_CLASS = f"{PREFIX}-script"
