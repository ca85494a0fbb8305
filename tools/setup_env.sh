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
#
# Idempotent: a second run finds everything installed, reuses the cached mmcv
# wheel, and takes seconds.
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
PIP=("$PY" -m pip install --disable-pip-version-check)

# Build prerequisites; numpy first so that mmcv is compiled against 1.x.
"${PIP[@]}" -q "$(pin setuptools)" "$(pin numpy)" wheel ninja

# torch + torchvision: keep a pair that already loads together (e.g. a CUDA
# build), otherwise install the pinned pair. A bare PyPI torchvision beside
# another torch fails with "operator torchvision::nms does not exist".
if "$PY" -c 'import torch, torchvision; torchvision.ops.nms' 2>/dev/null; then
    log "keeping $("$PY" -c 'import torch, torchvision as tv; print("torch", torch.__version__, "torchvision", tv.__version__)')"
else
    log "installing $(pin torch) $(pin torchvision)"
    "${PIP[@]}" -q "$(pin torch)" "$(pin torchvision)"
fi

# mmcv with ops, built once per (mmcv, torch, python, CUDA) and cached.
MMCV_PIN=$(pin mmcv)
MMCV_VERSION=${MMCV_PIN#mmcv==}
if "$PY" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '$MMCV_VERSION'" 2>/dev/null; then
    log "mmcv $MMCV_VERSION with ops already installed"
else
    TAG=$("$PY" -c 'import sys, torch
device = "cuda" if torch.cuda.is_available() else "cpu"
print("py%d%d-torch%s-%s" % (*sys.version_info[:2], torch.__version__.replace("+", "_"), device))')
    WHEEL_DIR="$CACHE/mmcv-$MMCV_VERSION-$TAG"
    if ! ls "$WHEEL_DIR"/mmcv-*.whl >/dev/null 2>&1; then
        log "building mmcv $MMCV_VERSION with ops from source (about 20 minutes on 2 CPU cores)"
        SRC=$(mktemp -d)
        trap 'rm -rf "$SRC"' EXIT
        "$PY" -m pip download -q --disable-pip-version-check --no-deps \
            --no-binary :all: "$MMCV_PIN" -d "$SRC"
        tar -xzf "$SRC"/mmcv-"$MMCV_VERSION".tar.gz -C "$SRC"
        # torch >= 2.5 headers need C++20; mmcv 2.1.0 hard-codes C++17.
        sed -i 's/-std=c++17/-std=c++20/g' "$SRC/mmcv-$MMCV_VERSION/setup.py"
        mkdir -p "$WHEEL_DIR.tmp"
        MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} "$PY" -m pip wheel \
            --disable-pip-version-check --no-build-isolation --no-deps \
            "$SRC/mmcv-$MMCV_VERSION" -w "$WHEEL_DIR.tmp"
        # Publish the cache entry only once the wheel is complete.
        rm -rf "$WHEEL_DIR" && mv "$WHEEL_DIR.tmp" "$WHEEL_DIR"
    else
        log "reusing cached mmcv wheel from $WHEEL_DIR"
    fi
    "${PIP[@]}" -q --no-deps --force-reinstall "$WHEEL_DIR"/mmcv-*.whl
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
"${PIP[@]}" -q -r <(grep -vE '^(torch|torchvision|mmcv)([<>=!~ ]|$)' "$PINS") \
    pytest addict yapf
"${PIP[@]}" -q --no-build-isolation --no-deps -e "$REPO"
"$PY" -c 'import mst_mm, mmcv.ops, mmdet, mmseg, mmpretrain; print("mst_mm", mst_mm.__version__, "ready")'
if [ "$VENV" != current ]; then
    log "done: activate with 'source $VENV/bin/activate' (or call $VENV/bin/python)"
fi
