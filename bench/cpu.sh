#!/usr/bin/env bash
# The CPU benchmark figures of the README: our training step and model against the reference's
# PyTorch on the same machine, and the data loader. Run after `make release`.
set -euo pipefail
cd "$(dirname "$0")/.."
loader_arguments=("$@")
milnce=.build/release/milnce
python=.venv/bin/python
for shape in "8 8 64" "4 16 112" "2 16 224"; do
    set -- $shape
    echo "== training step, batch $1, $2x$3x$3"
    $python bench/reference_train_step.py --batch_size "$1" --num_frames "$2" --video_size "$3" --iterations 5 --warmup 2
    $milnce bench train --batch_size "$1" --num_frames "$2" --video_size "$3" --iterations 5 --warmup 2
done
echo "== model, batch 2, 16x112x112"
$milnce bench model --batch_size 2 --num_frames 16 --video_size 112 --iterations 5 --warmup 2
echo "== loader"
$milnce bench loader "${loader_arguments[@]}"
