#!/usr/bin/env bash
# One architecture/size probe: NAME [key=value ...] -> RUNS/NAME (the budget every probe shares:
# 1000 train frames, 6 epochs of cosine, Adam 2e-3, one thread, seed 0).
# Data: mtl-perception make-dataset --out runs/data/default --train 2000 --val 200 --height 120 --width 160 --seed 0
set -euo pipefail
name=$1; shift
out=${RUNS:-work/model_size}/$name
[ -f "$out/done" ] && exit 0
mkdir -p "$(dirname "$out")"
mtl-perception train --config config/train/default.yaml --out "$out" data.root="${DATA:-runs/data/default}" \
  data.train_limit=1000 epochs=6 eval_every=2 threads=1 tensorboard=false plots=false seed=0 "$@" > "$out.log" 2>&1
touch "$out/done"
