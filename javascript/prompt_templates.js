// sd-prompt-templates: the Prompt Templates tab and Script fields in the page.
// Runs once, inside onUiLoaded; finds elements with gradioApp(); reassigns no WebUI global. Its one export,
// window.promptTemplates, holds `submit`, which the tab's Generate button calls to start the WebUI's progress
// bar with a fresh task id before the request goes out.
(function () {
    "use strict";

    var PREFIX = "prompt-templates";
    var TAB = PREFIX + "-tab-";
    var EDITOR = PREFIX + "-editor";
    var FIELDS = {prompt: TAB + "prompt", negative_prompt: TAB + "negative", variables: TAB + "values"};

    function byId(id) {
        return gradioApp().getElementById(id);
    }

    function textareaOf(id) {
        var holder = byId(id);
        return holder ? holder.querySelector("textarea") : null;
    }

    function submit() {
        var args = Array.prototype.slice.call(arguments);
        var id = randomId();
        requestProgress(id, byId(TAB + "gallery-container"), byId(TAB + "gallery"), function () {});
        args[0] = id;
        return args;
    }

    // -- error position: select the offending character in its editor when the error is clicked -------------
    function offsetOf(text, line, column) {
        var lines = text.split("\n");
        var offset = 0;
        for (var i = 0; i < line - 1 && i < lines.length; i++) {
            offset += lines[i].length + 1;
        }
        return Math.min(offset + column - 1, text.length);
    }

    function showError(errorElement) {
        var area = textareaOf(FIELDS[errorElement.dataset.field]);
        if (!area) {
            return;
        }
        var start = offsetOf(area.value, Number(errorElement.dataset.line), Number(errorElement.dataset.column));
        area.focus();
        area.setSelectionRange(start, Math.min(start + 1, area.value.length));
    }

    function markEditors() {
        var errors = gradioApp().querySelectorAll("." + PREFIX + "-error[data-field]");
        var failing = {};
        errors.forEach(function (element) {
            failing[element.dataset.field] = true;
        });
        Object.keys(FIELDS).forEach(function (field) {
            var holder = byId(FIELDS[field]);
            if (holder) {
                holder.classList.toggle(PREFIX + "-has-error", !!failing[field]);
            }
        });
    }

    // -- autocomplete of __wildcard__ and ${variable} names ---------------------------------------------------
    function wildcardNames() {
        var holder = gradioApp().querySelector("." + PREFIX + "-names");
        try {
            return JSON.parse(holder ? holder.dataset.names : "{}").wildcards || [];
        } catch (e) {
            return [];
        }
    }

    function variableNames() {
        var names = {};
        [TAB + "prompt", TAB + "negative", TAB + "values"].forEach(function (id) {
            var area = textareaOf(id);
            var text = area ? area.value : "";
            (text.match(/\$\{\s*[A-Za-z_][\w-]*/g) || []).forEach(function (m) {
                names[m.replace(/^\$\{\s*/, "")] = true;
            });
            (text.match(/^\s*[A-Za-z_][\w-]*\s*=/gm) || []).forEach(function (m) {
                names[m.replace(/[\s=]/g, "")] = true;
            });
        });
        return Object.keys(names).sort();
    }

    var menu = null;

    function closeMenu() {
        if (menu) {
            menu.remove();
            menu = null;
        }
    }

    function complete(area) {
        var before = area.value.slice(0, area.selectionStart);
        var match = before.match(/__([\w\-./*]*)$/) || before.match(/\$\{([\w-]*)$/);
        closeMenu();
        if (!match) {
            return;
        }
        var isWildcard = match[0].indexOf("__") === 0;
        var typed = match[1];
        var options = (isWildcard ? wildcardNames() : variableNames()).filter(function (name) {
            return name.indexOf(typed) === 0 && name !== typed;
        }).slice(0, 12);
        if (!options.length) {
            return;
        }
        menu = document.createElement("ul");
        menu.className = PREFIX + "-completions";
        options.forEach(function (name) {
            var item = document.createElement("li");
            item.textContent = isWildcard ? "__" + name + "__" : "${" + name + "}";
            item.addEventListener("mousedown", function (event) {
                event.preventDefault();
                var start = area.selectionStart - typed.length;
                var rest = isWildcard ? name + "__" : name + "}";
                area.setRangeText(rest, start, area.selectionStart, "end");
                updateInput(area);
                closeMenu();
            });
            menu.appendChild(item);
        });
        area.parentElement.appendChild(menu);
    }

    function attach(area) {
        if (area.dataset.promptTemplates) {
            return;
        }
        area.dataset.promptTemplates = "1";
        area.addEventListener("input", function () {
            complete(area);
        });
        area.addEventListener("blur", function () {
            setTimeout(closeMenu, 150);
        });
        area.addEventListener("keydown", function (event) {
            if (event.key === "Escape") {
                closeMenu();
            }
            if ((event.ctrlKey || event.metaKey) && event.key === "Enter" && area.closest("#" + TAB + "root")) {
                event.preventDefault();
                event.stopPropagation(); // the WebUI's own Ctrl+Enter looks for a txt2img-style Generate button
                byId(TAB + "preview-button").click();
            }
        });
    }

    function scan() {
        gradioApp().querySelectorAll("." + EDITOR + " textarea, [id^='" + PREFIX + "-txt2img-'] textarea, " +
            "[id^='" + PREFIX + "-img2img-'] textarea").forEach(attach);
        ["txt2img_prompt", "img2img_prompt", "txt2img_neg_prompt", "img2img_neg_prompt"].forEach(function (id) {
            var area = textareaOf(id);
            if (area) {
                attach(area);
            }
        });
    }

    window.promptTemplates = {submit: submit};

    onUiLoaded(function () {
        scan();
        gradioApp().addEventListener("click", function (event) {
            var error = event.target.closest && event.target.closest("." + PREFIX + "-error[data-field]");
            if (error) {
                showError(error);
            }
        });
        var info = byId(TAB + "preview-info");
        if (info) {
            new MutationObserver(markEditors).observe(info, {childList: true, subtree: true});
        }
    });
})();
