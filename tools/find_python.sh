# Sourced by the tools/*.sh launchers: sets PY to the Python that runs the
# project, so that they work without an activated environment.
#   - $PYTHON, if set, is used as is (e.g. PYTHON=/opt/envs/mm/bin/python);
#   - otherwise the first of these that can import torch:
#       the active virtual or conda environment ($VIRTUAL_ENV, $CONDA_PREFIX),
#       $MST_VENV (the environment tools/setup_env.sh was told to create),
#       the repository's .venv (tools/setup_env.sh's default),
#       `python` on PATH.
# Stops with a message naming the interpreter(s) tried if none has torch.
# Needs REPO (the repository root) set by the caller.

has_torch() {  # find_spec only looks the package up: no seconds importing
    "$1" -c 'import importlib.util as u, sys; sys.exit(u.find_spec("torch") is None)' 2>/dev/null
}

find_python() {
    local prefix tried=()
    if [ -n "${PYTHON:-}" ]; then
        if has_torch "$PYTHON"; then
            PY=$PYTHON
            return
        fi
        tried=("$PYTHON")
    else
        for prefix in "${VIRTUAL_ENV:-}" "${CONDA_PREFIX:-}" "${MST_VENV:-}" "$REPO/.venv"; do
            if [ -n "$prefix" ] && [ "$prefix" != current ] &&
                [ -x "$prefix/bin/python" ]; then
                if has_torch "$prefix/bin/python"; then
                    PY=$prefix/bin/python
                    return
                fi
                tried+=("$prefix/bin/python")
            fi
        done
        if command -v python >/dev/null 2>&1 && has_torch python; then
            PY=python
            return
        fi
        tried+=(python)
    fi
    echo "$(basename "$0"): no interpreter that can import torch; tried: ${tried[*]}." >&2
    echo "  Set it up with 'bash $REPO/tools/setup_env.sh', activate the environment" >&2
    echo "  that has the stack, or name it: PYTHON=/path/to/bin/python $0 ..." >&2
    exit 1
}

find_python
