#!/usr/bin/env bash
# The README's main job: MST pre-training on real embedded data, on a CPU.
#   1. Fashion-MNIST (Debian's dataset-fashion-mnist, installed by
#      tools/setup_env.sh) -> an image folder, 500 train / 100 test images
#      per class (kept; a second run reuses it).
#   2. MST pre-training of a small ViT with the paper's recipe scaled down
#      (configs/pretrain/mst_vit-tiny-p4_fashion-mnist.py), logging both
#      losses, the masked fraction, the teacher temperature, EMA momentum,
#      entropy, lr and weight decay.
# Environment: PYTHON (default: .venv/bin/python), WORK_DIR
# (default: work_dirs/demo), DEMO_TRAIN_PER_CLASS / DEMO_TEST_PER_CLASS.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
PY=${PYTHON:-"$REPO/.venv/bin/python"}
WORK_DIR=${WORK_DIR:-work_dirs/demo}
TRAIN_N=${DEMO_TRAIN_PER_CLASS:-500}
TEST_N=${DEMO_TEST_PER_CLASS:-100}
DATA=data/fashion_mnist_${TRAIN_N}_${TEST_N}

"$PY" tools/dataset_converters/fashion_mnist_to_imagefolder.py \
    --out "$DATA" --max-per-class-train "$TRAIN_N" \
    --max-per-class-test "$TEST_N"
"$PY" tools/train.py configs/pretrain/mst_vit-tiny-p4_fashion-mnist.py \
    --work-dir "$WORK_DIR/mst" \
    --cfg-options "train_dataloader.dataset.data_root=$DATA" "$@"
echo "MST checkpoints and logs: $WORK_DIR/mst"
