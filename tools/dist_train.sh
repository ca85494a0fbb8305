#!/usr/bin/env bash
# Usage: tools/dist_train.sh CONFIG NUM_PROCS [train.py args...]
# One process per GPU; with no GPU the processes run on CPU over gloo
# (mmengine picks the backend), so `tools/dist_train.sh CONFIG 2` runs anywhere.
# Python: $PYTHON, else the first with torch of the active environment,
# $MST_VENV, .venv, python (tools/find_python.sh); no activation needed.
set -euo pipefail
CONFIG=$1
NPROCS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
TOOLS=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$TOOLS")
# shellcheck source=find_python.sh
source "$TOOLS/find_python.sh"  # sets PY
PYTHONPATH="$TOOLS/..${PYTHONPATH:+:$PYTHONPATH}" \
exec "$PY" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$NPROCS" \
    --master_port="$PORT" \
    "$TOOLS/train.py" "$CONFIG" --launcher pytorch "${@:3}"
