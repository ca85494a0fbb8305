#!/usr/bin/env bash
# Build mmcv (the version pinned in requirements/pins.txt) with its C++ ops from
# the PyPI source, once per recipe, and keep the wheel in a cache.
#
#   bash tools/build_mmcv.sh PYTHON key      print the cache key of the recipe
#   bash tools/build_mmcv.sh PYTHON entry    print the cache folder of the recipe
#   bash tools/build_mmcv.sh PYTHON lookup   print the cached wheel, if complete
#   bash tools/build_mmcv.sh PYTHON fetch D  stage 1 only: download the source
#                                            into D and prepare its metadata
#   bash tools/build_mmcv.sh PYTHON wheel    lookup, else fetch + patch + build;
#                                            prints the wheel's path last
#
# PYTHON is the interpreter of the target environment. It must already hold
# the pinned build tools (setuptools, wheel, ninja, NumPy 1.x; and torch for
# `wheel`). Every pip call that prepares metadata or builds runs with
# --no-build-isolation against those tools: an isolated build would take the
# index's newest setuptools, which has no `pkg_resources` (mmcv 2.1.0's
# setup.py imports it), and fail on a fresh machine.
#
# Cache: MST_WHEEL_CACHE (default ~/.cache/mst_mm/wheels). An entry is
# mmcv-<version>-<python/torch/device tag>-<recipe hash>/ and counts only once
# its RECIPE file is written, after the wheel is complete; the hash covers the
# mmcv pin, the build flags, the source patch and the build-tool pins, so a
# changed recipe rebuilds instead of reusing an old wheel.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
PINS=${MST_PINS:-"$REPO/requirements/pins.txt"}
CACHE=${MST_WHEEL_CACHE:-"$HOME/.cache/mst_mm/wheels"}
PY=${1:?usage: build_mmcv.sh PYTHON key|recipe|entry|lookup|fetch DIR|wheel}
ACTION=${2:?usage: build_mmcv.sh PYTHON key|recipe|entry|lookup|fetch DIR|wheel}

# The recipe. Any change here changes the cache key.
BUILD_ENV="MMCV_WITH_OPS=1"
# torch >= 2.5 headers need C++20; mmcv 2.1.0's setup.py hard-codes C++17.
PATCH_SED='s/-std=c++17/-std=c++20/g'
BUILD_TOOLS=(setuptools wheel ninja numpy)

say() { printf '[build_mmcv] %s\n' "$*" >&2; }
pin() {  # pin NAME -> the requirement line for NAME in pins.txt
    local line
    line=$(grep -E "^$1([<>=!~ ]|$)" "$PINS" | head -n1 | sed 's/#.*//; s/ *$//')
    if [ -z "$line" ]; then
        say "no pin for '$1' in $PINS"
        exit 1
    fi
    printf '%s' "$line"
}

MMCV_PIN=$(pin mmcv)
MMCV_VERSION=${MMCV_PIN#mmcv==}

recipe() {  # the text whose hash names the cache entry
    printf 'mmcv: %s\n' "$MMCV_PIN"
    printf 'build env: %s\n' "$BUILD_ENV"
    printf 'setup.py patch: %s\n' "$PATCH_SED"
    local tool
    for tool in "${BUILD_TOOLS[@]}"; do printf 'build tool: %s\n' "$(pin "$tool")"; done
    printf 'pip flags: --no-build-isolation --no-deps\n'
}

entry_dir() {  # cache folder for this recipe and this environment
    local tag hash
    tag=$("$PY" -c 'import sys, torch
device = "cuda" if torch.cuda.is_available() else "cpu"
print("py%d%d-torch%s-%s" % (*sys.version_info[:2], torch.__version__.replace("+", "_"), device))')
    hash=$(recipe | sha256sum | cut -c1-12)
    printf '%s/mmcv-%s-%s-%s' "$CACHE" "$MMCV_VERSION" "$tag" "$hash"
}

lookup() {  # print the wheel of a complete entry; nothing for a partial one
    local dir=$1 wheels
    [ -f "$dir/RECIPE" ] || return 0
    wheels=("$dir"/mmcv-"$MMCV_VERSION"-*.whl)
    [ -f "${wheels[0]}" ] && printf '%s\n' "${wheels[0]}"
    return 0
}

# stage NAME LOG CMD...: run CMD with its output in LOG; on failure say which
# stage failed, where its log is, and how to retry.
stage() {
    local name=$1 log=$2
    shift 2
    say "$name (log: $log)"
    if ! "$@" >>"$log" 2>&1; then
        say "FAILED: stage '$name' of the mmcv $MMCV_VERSION build."
        say "  read the log:  $log"
        tail -n 15 "$log" | sed 's/^/  | /' >&2
        say "  then retry:    bash $REPO/tools/setup_env.sh"
        say "  (nothing was added to the wheel cache $CACHE)"
        exit 1
    fi
}

fetch() {  # stage 1: the sdist, and its metadata prepared without isolation
    local dest=$1 log=$2
    mkdir -p "$dest"
    # --use-pep517: prepare the metadata through setuptools' PEP 517 backend,
    # the path every current pip takes (older pips fall back to a legacy
    # `setup.py egg_info` when setuptools is installed); the same on all pips.
    stage "fetch the mmcv $MMCV_VERSION source and prepare its metadata" "$log" \
        "$PY" -m pip download --disable-pip-version-check --no-deps \
        --use-pep517 --no-build-isolation --no-binary :all: "$MMCV_PIN" \
        -d "$dest"
}

case "$ACTION" in
key)
    recipe | sha256sum | cut -c1-12
    ;;
recipe)
    recipe
    ;;
entry)
    entry_dir
    printf '\n'
    ;;
lookup)
    lookup "$(entry_dir)"
    ;;
fetch)
    dest=${3:?usage: build_mmcv.sh PYTHON fetch DIR}
    fetch "$dest" "${MST_BUILD_LOG:-$dest/fetch.log}"
    ;;
wheel)
    dir=$(entry_dir)
    wheel=$(lookup "$dir")
    if [ -n "$wheel" ]; then
        say "reusing the cached wheel $wheel"
        printf '%s\n' "$wheel"
        exit 0
    fi
    mkdir -p "$CACHE/logs"
    log="$CACHE/logs/mmcv-$MMCV_VERSION-$(date +%Y%m%d-%H%M%S).log"
    say "building mmcv $MMCV_VERSION with ops from source (about 10-20 minutes on 2 CPU cores)"
    src=$(mktemp -d)
    trap 'rm -rf "$src" "$dir.tmp.$$"' EXIT
    fetch "$src" "$log"
    stage "unpack and patch the source" "$log" \
        bash -c 'tar -xzf "$1"/mmcv-"$2".tar.gz -C "$1" && sed -i "$3" "$1/mmcv-$2/setup.py"' \
        _ "$src" "$MMCV_VERSION" "$PATCH_SED"
    stage "compile mmcv's C++ ops into a wheel" "$log" \
        env $BUILD_ENV MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
        "$PY" -m pip wheel --disable-pip-version-check --no-build-isolation \
        --no-deps "$src/mmcv-$MMCV_VERSION" -w "$dir.tmp.$$"
    # Publish the entry only once it is complete: the wheel first, RECIPE last
    # (lookup ignores an entry without it), then one rename.
    recipe >"$dir.tmp.$$/RECIPE"
    rm -rf "$dir"
    mv "$dir.tmp.$$" "$dir"
    lookup "$dir"
    ;;
*)
    say "unknown action '$ACTION' (expected key, recipe, entry, lookup, fetch DIR or wheel)"
    exit 2
    ;;
esac
