#!/usr/bin/env bash
# The README's fine-tuning example end to end: a bag from an unseen room, the first 70 % converted
# and used to fine-tune depth and normals, the last 30 % scored with bag-eval before and after.
#   bash examples/finetune_on_a_bag/run.sh [WORK_DIR]   (default runs/finetune; reports land there)
# LR, EPOCHS, FREEZE_BN (default true), EXTRA (more key=value overrides) and TAG vary the fine-tuning;
# the bag and dataset are reused.
set -euo pipefail
work=${1:-runs/finetune}
model=${MODEL:-mtl_perception/models/default}
mtl=${MTL:-mtl-perception}
mkdir -p "$work"
[ -d "$work/bag" ] || $mtl make-bag --out "$work/bag" --frames 150 --height 120 --width 160 --seed 123 --depth-encoding 16UC1 --no-progress
[ -d "$work/data" ] || $mtl bag-to-dataset "$work/bag" --out "$work/data" --image-topic /camera/image_raw \
    --depth-topic /ground_truth/depth --camera-info-topic /camera/camera_info --val-fraction 0.3 --split-period-s 1000 --no-progress
# The held-out tail, scored against the bag's own depth and the renderer's normals; labels are not used.
$mtl bag-eval "$work/bag" --model "$model" --start-fraction 0.7 --gt-segmentation-topic none \
    --report "$work/before.json" --no-progress
freeze_bn=${FREEZE_BN:-true}
variant="lr${LR:-2e-4}-e${EPOCHS:-4}-bn$([ "$freeze_bn" = true ] && echo frozen || echo trained)${TAG:+-$TAG}"  # each variant its own run, so nothing is overwritten
$mtl train --config config/train/default.yaml --init "$model" --out "$work/run-$variant" \
    data.root="$work/data" epochs="${EPOCHS:-4}" eval_every=1 optim.lr="${LR:-2e-4}" optim.freeze_bn="$freeze_bn" plots=false tensorboard=false ${EXTRA:-}
$mtl export "$work/run-$variant/last.pt" --out "$work/finetuned-$variant" --name "finetuned-$variant" --frames 4
$mtl bag-eval "$work/bag" --model "$work/finetuned-$variant" --start-fraction 0.7 --gt-segmentation-topic none \
    --report "$work/after-$variant.json" --no-progress
