#!/usr/bin/env bash
# Usage: tools/dist_knn.sh CONFIG CHECKPOINT NUM_PROCS [knn_eval.py args...]
# Weighted k-NN across processes (gloo on CPU without GPUs).
# Python: $PYTHON, else the first with torch of the active environment,
# $MST_VENV, .venv, python (tools/find_python.sh); no activation needed.
set -euo pipefail
CONFIG=$1
CHECKPOINT=$2
NPROCS=$3
PORT=${PORT:-29500}
TOOLS=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$TOOLS")
# shellcheck source=find_python.sh
source "$TOOLS/find_python.sh"  # sets PY
PYTHONPATH="$TOOLS/..${PYTHONPATH:+:$PYTHONPATH}" \
exec "$PY" -m torch.distributed.run --nproc_per_node="$NPROCS" \
    --master_port="$PORT" "$TOOLS/knn_eval.py" "$CONFIG" "$CHECKPOINT" \
    --launcher pytorch "${@:4}"
