# Sourced by the tools/*.sh launchers: sets PY to the Python that runs the
# project, so that they work without an activated environment. First match:
#   1. $PYTHON, if set (any interpreter, e.g. PYTHON=/opt/envs/mm/bin/python)
#   2. the active virtual or conda environment ($VIRTUAL_ENV, $CONDA_PREFIX)
#   3. $MST_VENV, the environment tools/setup_env.sh was told to create
#   4. the repository's .venv (tools/setup_env.sh's default)
#   5. `python` on PATH
# and stops with a message naming the interpreter if it has no torch.
# Needs REPO (the repository root) set by the caller.
find_python() {
    local candidate
    if [ -n "${PYTHON:-}" ]; then
        printf '%s' "$PYTHON"
        return
    fi
    for candidate in "${VIRTUAL_ENV:-}" "${CONDA_PREFIX:-}" "${MST_VENV:-}" "$REPO/.venv"; do
        if [ -n "$candidate" ] && [ "$candidate" != current ] &&
            [ -x "$candidate/bin/python" ]; then
            printf '%s' "$candidate/bin/python"
            return
        fi
    done
    printf 'python'
}

PY=$(find_python)
# find_spec only looks the package up: no seconds spent importing torch.
if ! "$PY" -c 'import importlib.util as u, sys; sys.exit(u.find_spec("torch") is None)' 2>/dev/null; then
    echo "$(basename "$0"): the interpreter '$PY' cannot import torch." >&2
    echo "  Set it up with 'bash $REPO/tools/setup_env.sh', activate the environment" >&2
    echo "  that has the stack, or name it: PYTHON=/path/to/bin/python $0 ..." >&2
    exit 1
fi
