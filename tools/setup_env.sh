#!/usr/bin/env bash
# Turn a Linux machine with Python >= 3.8 (3.11 tested) into a working mst_mm
# environment: torch + torchvision, mmengine, mmcv 2.1.0 built from source with
# its C++ ops, mmpretrain, mmdet, mmsegmentation, NumPy 1.x, and this package
# (editable). Versions: requirements/pins.txt.
#
# Where it installs:
#   MST_VENV=<dir>      virtual environment to create/reuse (default: .venv in
#                       the repository root)
#   MST_VENV=current    install into the Python that runs this script's
#                       `python3` (e.g. an activated conda/venv that already
#                       has a CUDA torch)
#   MST_WHEEL_CACHE     where the built mmcv wheel is kept and reused
#                       (default: ~/.cache/mst_mm/wheels)
#   MST_APT=0           skip Debian's dataset-fashion-mnist (the demo data)
#   MST_EXTRAS=<names>  also install setup.py extras, e.g. MST_EXTRAS=cityscapes
#                       (cityscapesscripts, to prepare Cityscapes)
#
#   MST_SETUP_LOGS      where each step's output is logged
#                       (default: ~/.cache/mst_mm/setup-logs)
#
# Idempotent: a second run finds everything installed, reuses the cached mmcv
# wheel, and takes seconds. Every step that builds or prepares metadata runs
# with --no-build-isolation against the pinned build tools. A failed step
# names itself, its log and the command to retry.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
PINS="$REPO/requirements/pins.txt"
VENV=${MST_VENV:-"$REPO/.venv"}
CACHE=${MST_WHEEL_CACHE:-"$HOME/.cache/mst_mm/wheels"}
PYTHON_BOOT=${PYTHON:-python3}

log() { printf '\n[setup_env] %s\n' "$*"; }
pin() {  # pin NAME -> the requirement line for NAME in pins.txt
    local line
    line=$(grep -E "^$1([<>=!~ ]|$)" "$PINS" | head -n1 | sed 's/#.*//; s/ *$//')
    if [ -z "$line" ]; then
        echo "setup_env: no pin for '$1' in $PINS" >&2
        exit 1
    fi
    printf '%s' "$line"
}

if [ "$VENV" = current ]; then
    PY=$(command -v "$PYTHON_BOOT")
    log "installing into the current Python: $PY"
else
    if [ ! -x "$VENV/bin/python" ]; then
        log "creating virtual environment $VENV"
        "$PYTHON_BOOT" -m venv "$VENV"
    fi
    PY="$VENV/bin/python"
fi
# Each step's full output goes to a log here; the console shows the steps.
VENV_LOGS=${MST_SETUP_LOGS:-"$HOME/.cache/mst_mm/setup-logs"}
PIP=("$PY" -m pip install --disable-pip-version-check)
LOGS="$VENV_LOGS"
mkdir -p "$LOGS"

# step NAME CMD...: run CMD with its output in a log; on failure say which
# step failed, where its log is and how to retry (the set-up is idempotent).
step() {
    local name=$1 log="$LOGS/$(echo "$1" | tr -c 'a-zA-Z0-9\n' '-').log"
    shift
    : >"$log"
    if ! "$@" >"$log" 2>&1; then
        printf '\n[setup_env] FAILED: step "%s"\n' "$name" >&2
        tail -n 15 "$log" | sed 's/^/  | /' >&2
        printf '[setup_env]   read the log:  %s\n' "$log" >&2
        printf '[setup_env]   then retry:    bash %s/tools/setup_env.sh\n' "$REPO" >&2
        exit 1
    fi
}

# The pinned build tools first: every later build step uses these (no build
# isolation), and mmcv is compiled against NumPy 1.x.
log "installing the pinned build tools: $(pin setuptools) $(pin wheel) $(pin ninja) $(pin numpy)"
step "build tools" "${PIP[@]}" "$(pin setuptools)" "$(pin wheel)" "$(pin ninja)" "$(pin numpy)"

# torch + torchvision: keep a pair that already loads together (e.g. a CUDA
# build), otherwise install the pinned pair. A bare PyPI torchvision beside
# another torch fails with "operator torchvision::nms does not exist".
if "$PY" -c 'import torch, torchvision; torchvision.ops.nms' 2>/dev/null; then
    log "keeping $("$PY" -c 'import torch, torchvision as tv; print("torch", torch.__version__, "torchvision", tv.__version__)')"
else
    log "installing $(pin torch) $(pin torchvision)"
    step "torch" "${PIP[@]}" "$(pin torch)" "$(pin torchvision)"
fi

# mmcv with ops: built once per recipe and environment, then cached
# (tools/build_mmcv.sh says how, and names the failed stage if it fails).
MMCV_PIN=$(pin mmcv)
MMCV_VERSION=${MMCV_PIN#mmcv==}
if "$PY" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '$MMCV_VERSION'" 2>/dev/null; then
    log "mmcv $MMCV_VERSION with ops already installed"
else
    log "mmcv $MMCV_VERSION with ops"
    WHEEL=$(MST_WHEEL_CACHE="$CACHE" bash "$REPO/tools/build_mmcv.sh" "$PY" wheel | tail -n1)
    step "install mmcv" "${PIP[@]}" --no-deps --force-reinstall "$WHEEL"
fi

# The demo data set: Fashion-MNIST from Debian's package (no download at run
# time). Needs root and apt; elsewhere the demo says how to get it.
FMNIST=/usr/share/datasets/fashion-mnist
if [ "${MST_APT:-1}" != 0 ] && [ ! -f "$FMNIST/train-images-idx3-ubyte.gz" ]; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        log "installing Debian's dataset-fashion-mnist (the demo data set)"
        apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 || {
            apt-get update -qq >/dev/null 2>&1
            apt-get install -y -qq dataset-fashion-mnist >/dev/null
        }
    else
        log "skipping dataset-fashion-mnist (needs root and apt-get); the demo needs $FMNIST"
    fi
fi

# The toolboxes and the project. Everything pinned is already satisfied or
# comes from the package index as a wheel; nothing here compiles.
log "installing mmengine, mmpretrain, mmdet, mmsegmentation and mst_mm"
step "toolboxes" "${PIP[@]}" --no-build-isolation \
    -r <(grep -vE '^(torch|torchvision|mmcv)([<>=!~ ]|$)' "$PINS") pytest addict
step "mst_mm" "${PIP[@]}" --no-build-isolation --no-deps -e "$REPO"
if [ -n "${MST_EXTRAS:-}" ]; then
    log "installing the extras: $MST_EXTRAS"
    step "extras" "${PIP[@]}" --no-build-isolation -e "$REPO[$MST_EXTRAS]"
fi
"$PY" -c 'import mst_mm, mmcv.ops, mmdet, mmseg, mmpretrain; print("mst_mm", mst_mm.__version__, "ready")'
if [ "$VENV" != current ]; then
    log "done: activate with 'source $VENV/bin/activate' (or call $VENV/bin/python)"
fi
