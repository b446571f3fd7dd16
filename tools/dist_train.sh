#!/usr/bin/env bash
# Usage: bash tools/dist_train.sh CONFIG NUM_PROCESSES [train.py args...]
# One process per GPU; on a machine without GPUs, NUM_PROCESSES CPU processes with the gloo backend.
# Works from any directory (a relative CONFIG not found there is taken from the repository). The arguments and paths
# are checked once, before the processes start, so a typo is one line, not one traceback per process.
set -e
if [ $# -lt 2 ] || ! [[ "$2" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: bash tools/dist_train.sh CONFIG NUM_PROCESSES [train.py args...] (NUM_PROCESSES: a positive integer)" >&2
  exit 2
fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}

export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
"$PYTHON" "$ROOT/tools/train.py" "$CONFIG" --launcher pytorch "${@:3}" --check-args
"$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "$ROOT/tools/train.py" \
    "$CONFIG" \
    --launcher pytorch "${@:3}"
