#!/usr/bin/env bash
# Run the whole test suite in each WebUI stack, each in its own virtual environment under .venvs/:
#   a1111  the versions AUTOMATIC1111 v1.10.1 pins (gradio 3.41.2, fastapi 0.94.0, pydantic 1), on Python 3.10
#   forge  the versions Forge runs with (gradio 4.40.0, fastapi 0.104.1, pydantic 2), on Python 3.11
#   py313  the versions Forge Neo, Forge's maintained successor, runs with (gradio 4.40.0, fastapi 0.127.1,
#          pydantic 2.10, numpy 2), on Python 3.13
# In each: mypy (pyproject.toml's [tool.mypy]) and pytest; ruff once, in the first stack.
# Usage: bash tests/run-stacks.sh [STACK ...] [-- PYTEST ARGS]     (default: every stack)
set -uo pipefail
cd "$(dirname "$0")/.."

stacks=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do stacks+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
[ ${#stacks[@]} -eq 0 ] && stacks=(a1111 forge py313)

find_python() {  # $1 = wanted minor version, e.g. 3.10
    local candidate
    for candidate in "python$1" "$HOME"/.pyenv/versions/"$1".*/bin/python"$1" /usr/bin/python"$1" /usr/local/bin/python"$1"; do
        if "$candidate" -c 'import sys' >/dev/null 2>&1; then echo "$candidate"; return 0; fi
    done
    echo "warning: no Python $1 found, using python3 ($(python3 -V 2>&1))" >&2
    echo python3
}

declare -A wanted=([a1111]=3.10 [forge]=3.11 [py313]=3.13)
status=0
summary=()
pg_skipped=0  # tests marked `postgres` that pytest reported skipped, over every stack
for stack in "${stacks[@]}"; do
    [ -f "tests/stacks/$stack.txt" ] || { echo "unknown stack '$stack'" >&2; exit 2; }
    venv=".venvs/$stack"
    stamp="$venv/.requirements"
    want=$(cat "tests/stacks/$stack.txt" tests/stacks/test.txt pyproject.toml | sha256sum | cut -d' ' -f1)
    if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "== $stack: creating $venv"
        rm -rf "$venv"
        "$(find_python "${wanted[$stack]}")" -m venv "$venv" || exit 1
        if ! { "$venv/bin/python" -m pip install --upgrade pip &&
               "$venv/bin/python" -m pip install -r "tests/stacks/$stack.txt" -r tests/stacks/test.txt; } > "$venv.pip.log" 2>&1; then
            tail -n 40 "$venv.pip.log"; echo "== $stack: installing the stack failed (log: $venv.pip.log)" >&2; exit 1
        fi
        echo "$want" > "$stamp"
    fi
    echo "== $stack: $("$venv/bin/python" -c 'import sys, fastapi, pydantic, gradio; print("Python", sys.version.split()[0], "fastapi", fastapi.__version__, "pydantic", pydantic.VERSION, "gradio", gradio.__version__)')"
    if [ "$stack" = "${stacks[0]}" ]; then
        if "$venv/bin/ruff" check . && "$venv/bin/ruff" format --check .; then summary+=("ruff: passed")
        else status=1; summary+=("ruff: FAILED"); fi
    fi
    # mypy with this stack's Python and libraries ([tool.mypy] in pyproject.toml); `if PYDANTIC_V2:` is checked as
    # this stack's pydantic takes it. Its cache lives and dies with the venv.
    pydantic_v2=$("$venv/bin/python" -c 'import pydantic; print(pydantic.VERSION.startswith("2") and "true" or "false")')
    "$venv/bin/python" -m mypy --cache-dir "$venv/.mypy_cache" "--always-$pydantic_v2" PYDANTIC_V2 | tee "$venv.mypy.log"
    rc=${PIPESTATUS[0]}
    if [ $rc -eq 0 ]; then summary+=("$stack mypy: passed")
    else summary+=("$stack mypy: FAILED ($(tail -n 1 "$venv.mypy.log"))"); status=1; fi
    # its output is kept ($venv.pytest.log) to count the PostgreSQL tests that skipped (pytest -rs: "SKIPPED [N] …")
    "$venv/bin/python" -m pytest "$@" 2>&1 | tee "$venv.pytest.log"
    rc=${PIPESTATUS[0]}
    n=$(awk '/^SKIPPED \[[0-9]+\] .*PostgreSQL tests:/ { gsub(/[^0-9]/, "", $2); n += $2 } END { print n + 0 }' "$venv.pytest.log")
    pg_skipped=$((pg_skipped + n))
    if [ $rc -eq 0 ]; then summary+=("$stack: passed"); else summary+=("$stack: FAILED (pytest exit $rc)"); status=1; fi
done
if ! [ -x /usr/bin/chromium ]; then
    summary+=("browser tests (tests/browser): SKIPPED, no /usr/bin/chromium (apt-get install chromium)")
fi
if [ -z "${SD_WEBUI_URL:-}" ]; then
    summary+=("real-WebUI suite (tests/webui, -m webui): SKIPPED, no SD_WEBUI_URL; run it against a live WebUI")
fi
# the PostgreSQL suite (-m postgres): ran only if SD_PROMPT_TEMPLATES_TEST_DATABASE_URL is set (.ci/run sets it when a
# server answers at 127.0.0.1:5432); said plainly, it is easy to miss among the skips
pg_where=$(printf '%s' "${SD_PROMPT_TEMPLATES_TEST_DATABASE_URL:-}" | sed -E 's#(://[^:@/]*):[^@/]*@#\1:***@#')
if [ -z "$pg_where" ]; then
    summary+=("PostgreSQL tests (-m postgres): SKIPPED ($pg_skipped), no SD_PROMPT_TEMPLATES_TEST_DATABASE_URL (.ci/run sets it when a PostgreSQL answers)")
elif [ "$pg_skipped" -gt 0 ]; then
    summary+=("PostgreSQL tests (-m postgres): $pg_skipped SKIPPED, though SD_PROMPT_TEMPLATES_TEST_DATABASE_URL=$pg_where")
else
    summary+=("PostgreSQL tests (-m postgres): ran, against $pg_where")
fi
echo "== summary"
printf '   %s\n' "${summary[@]}"
exit $status
