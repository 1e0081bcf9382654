# Mirrors modules/options.py (v1.10.1): OptionInfo(default, label, component, component_args, ..., section=...),
# Options.add_option(key, info), attribute access to values.
class OptionInfo:
    def __init__(
        self,
        default=None,
        label="",
        component=None,
        component_args=None,
        onchange=None,
        section=None,
        refresh=None,
        comment_before="",
        comment_after="",
        infotext=None,
        restrict_api=False,
        category_id=None,
    ):
        self.default, self.label, self.component, self.component_args = default, label, component, component_args
        self.section = section


class Options:
    def __init__(self):
        object.__setattr__(self, "data_labels", {})
        object.__setattr__(
            self,
            "data",
            {
                "outdir_samples": "",
                "outdir_txt2img_samples": "outputs",
                "outdir_grids": "",
                "outdir_txt2img_grids": "outputs",
            },
        )

    def add_option(self, key, info):
        self.data_labels[key] = info
        self.data.setdefault(key, info.default)

    def __getattr__(self, item):
        if item in self.data:
            return self.data[item]
        raise AttributeError(item)

    def __setattr__(self, key, value):
        self.data[key] = value
