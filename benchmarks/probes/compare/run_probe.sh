#!/usr/bin/env bash
# One probe: NAME SEED [key=value ...] -> RUNS/NAME_sSEED (the budget every probe shares).
# Data: mtl-perception make-dataset --out DATA --train 800 --val 200 --height 72 --width 96 --seed 1234
set -euo pipefail
name=$1; seed=$2; shift 2
out=${RUNS:-work/probes/runs}/${name}_s${seed}
[ -f "$out/done" ] && exit 0
mtl-perception train --out "$out" data.root="${DATA:-work/probes/d72}" data.height=72 data.width=96 data.train_limit=400 \
  epochs=16 eval_every=4 threads=1 tensorboard=false plots=false optim.lr=2e-3 seed="$seed" "$@" > "$out.log" 2>&1
touch "$out/done"
