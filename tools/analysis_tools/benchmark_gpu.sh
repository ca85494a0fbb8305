#!/usr/bin/env bash
# Every speed figure of the README's "Benchmark" and "Input pipeline"
# sections on one GPU, as JSON files in OUT_DIR (issue 11's checks):
#
#   bash tools/analysis_tools/benchmark_gpu.sh DIR OUT_DIR [PART ...]
#
#   DIR      a folder of JPEG photographs (ImageNet-like, ~400 px), e.g.
#            data/imagenet/val; a few dozen are enough (they are repeated)
#   PART     any of: step mfu pipeline loader inference (default: all but
#            inference)
#     step      tools/benchmark.py, batch 64, 2 x 224 + 8 x 96, bf16: the
#               masker (< 1.02) and MST/DINO (< 1.15) ratios, interleaved,
#               and the fused-AdamW and channels-last levers
#     mfu       the same step at batch 128, MST only: FLOPs and MFU
#     pipeline  benchmark_pipeline.py DIR --with-step at batch 64: images per
#               CPU core of both paths and of DINO's, and the device-side
#               augmentation as a share of a step (<= 5 %)
#     loader    benchmark_train_loader.py: tools/train.py on DIR against
#               cached samples, batch 128, 10 workers (>= 0.90)
#     inference tools/benchmark.py --inference (Table 1's im/s)
#
# Environment: PYTHON (default .venv/bin/python), ROUNDS (step, default 2),
# LOADER_ITERS (loader, default 200), LOADER_ROUNDS (default 1), DRY_RUN=1
# (print the commands, run and write nothing).
# Each part stops the script at its first error (set -e); the JSON files of
# the parts before it stay in OUT_DIR.
set -euo pipefail

if [[ $# -lt 2 ]]; then
    echo "usage: $0 DIR OUT_DIR [step|mfu|pipeline|loader|inference ...]" >&2
    exit 2
fi
DIR=$1
OUT=$2
shift 2
PARTS=${*:-step mfu pipeline loader}
PYTHON=${PYTHON:-.venv/bin/python}
CONFIG=configs/pretrain/mst_deit-s_300e.py

if [[ ! -d $DIR ]]; then
    echo "$0: DIR=$DIR is not a folder of images" >&2
    exit 2
fi
for part in $PARTS; do
    case $part in
    step | mfu | pipeline | loader | inference) ;;
    *)
        echo "$0: unknown part '$part' (expected step, mfu, pipeline," \
            "loader or inference)" >&2
        exit 2
        ;;
    esac
done
export PYTHONUNBUFFERED=1

run() {
    if [[ -n ${DRY_RUN:-} ]]; then
        printf '%q ' "$@"
        echo
    else
        "$@"
    fi
}
[[ -n ${DRY_RUN:-} ]] || mkdir -p "$OUT"

for part in $PARTS; do
    [[ -n ${DRY_RUN:-} ]] || echo "=== $part ($(date +%T))"
    case $part in
    step)
        run "$PYTHON" tools/benchmark.py --device cuda --batch 64 \
            --rounds "${ROUNDS:-2}" --variants mst mst-no-mask dino \
            mst-fused-adamw mst-channels-last --out "$OUT/step_b64.json"
        ;;
    mfu)
        run "$PYTHON" tools/benchmark.py --device cuda --batch 128 \
            --variants mst --out "$OUT/step_b128.json"
        ;;
    pipeline)
        run "$PYTHON" tools/analysis_tools/benchmark_pipeline.py "$DIR" \
            --device cuda --batch 64 --rounds 3 --with-step \
            --out "$OUT/pipeline_b64.json"
        ;;
    loader)
        run "$PYTHON" tools/analysis_tools/benchmark_train_loader.py "$CONFIG" \
            "$DIR" --batch 128 --workers 10 --iters "${LOADER_ITERS:-200}" \
            --rounds "${LOADER_ROUNDS:-1}" --out "$OUT/train_loader_b128.json"
        ;;
    inference)
        run "$PYTHON" tools/benchmark.py --device cuda --inference \
            --out "$OUT/inference_b128.json"
        ;;
    esac
done
[[ -n ${DRY_RUN:-} ]] || echo "=== done ($(date +%T)): $OUT"
