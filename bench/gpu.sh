#!/usr/bin/env bash
# The GPU check of a `make package` folder, in one call, against the machine's own PyTorch 2.11:
#
#   bench/gpu.sh [--golden DIR] [--budget SECONDS] [--steps LIST] PACKAGE_DIR OUT_DIR
#   bench/gpu.sh --bundle DIR [--budget SECONDS] [--steps LIST] OUT_DIR
#   bench/gpu.sh --dry-run [--golden DIR] PACKAGE_DIR OUT_DIR    # the same on the CPU, tiny sizes
#
# --bundle DIR takes the package and the fixture from the two archives `make gpu-bundle` writes
# (DIR/milnce.tar.xz holding milnce/, DIR/golden.tar.xz holding one fixture folder), unpacked into
# a scratch folder, so that a machine that receives only the repository and DIR needs one call.
#
# --steps runs only the steps whose names match one of LIST's comma-separated shell patterns
# (e.g. `check-*,ours-bf16-cl-b64`; the names are those of the report); the others are listed as
# not selected.
#
# Steps, in this order, each under its own time limit (`timeout`) within a total budget (330 s by
# default; a step that would not fit is skipped and says so); a failing step does not stop the
# others:
#   - environment: GPU, driver, PyTorch, cores, the binary's version;
#   - `milnce check` on the golden fixture: CUDA fp32 with TF32 off, CUDA bf16, CPU fp32; and
#     PyTorch itself on the same fixture on CUDA (bench/golden_reference.py), the measure of what
#     the fixture allows on this device;
#   - the training step at batch 64 (16x224x224, K=4): PyTorch's best eager (bf16 autocast +
#     channels_last), as the reference wrote it, and with the conversion on the GPU
#     (bench/reference_train_step.py --modes); ours bf16 + channels_last, fp32, bf16; clips/s and
#     peak GPU memory of each;
#   - `train --multiprocessing-distributed --dist-backend nccl` (one process per GPU) for a few
#     steps on a generated dataset;
#   - the demo on CUDA;
#   - the loader on all cores, raw;
#   - the training step at batch 128, as at 64;
#   - the loader from a prepared store, when the binary has one (`bench loader --parts store`).
# OUT_DIR receives gpu.md (one markdown table: each row a command, a figure, a ratio), gpu.json,
# and logs.tar.gz (every step's full log and the check reports).
#
# PACKAGE_DIR is the folder `make package` writes (dist/milnce: milnce, milnce.sh, lib/) or any
# folder holding a `milnce` binary (e.g. .build/release). The fixture folder comes from --golden,
# else MILNCE_GOLDEN_DIR, else ../shared/golden/s3d-plain beside the repository. Python is
# `python3` (PYTHON overrides it) and must import torch; its torch/lib is the libtorch milnce runs on.
# Needs nothing else: no Swift toolchain, no network.
set -uo pipefail

# usage [STATUS]: the header above, on standard output (or standard error when STATUS is not 0).
usage() {
    if [ "${1:-0}" = 0 ]; then help; else help >&2; fi
    exit "${1:-0}"
}
help() { awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"; }

dry_run=0
golden="${MILNCE_GOLDEN_DIR:-}"
bundle=""
budget=""
only=""
positional=()
while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) dry_run=1 ;;
        --golden) golden="${2:-}"; shift ;;
        --golden=*) golden="${1#--golden=}" ;;
        --bundle) bundle="${2:-}"; shift ;;
        --bundle=*) bundle="${1#--bundle=}" ;;
        --budget) budget="${2:-}"; shift ;;
        --budget=*) budget="${1#--budget=}" ;;
        --steps) only="${2:-}"; shift ;;
        --steps=*) only="${1#--steps=}" ;;
        -h|--help) usage 0 ;;
        -*) echo "gpu.sh: unknown option $1" >&2; usage 2 ;;
        *) positional+=("$1") ;;
    esac
    shift
done
scratch="$(mktemp -d "${TMPDIR:-/tmp}/milnce-gpu.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
if [ -n "$bundle" ]; then
    [ "${#positional[@]}" -eq 1 ] || { echo "gpu.sh: with --bundle, expected only OUT_DIR" >&2; usage 2; }
    for archive in milnce.tar.xz golden.tar.xz; do
        [ -f "$bundle/$archive" ] || { echo "gpu.sh: $bundle holds no $archive; make it with \`make gpu-bundle\` (see the README)" >&2; exit 2; }
    done
    mkdir -p "$scratch/bundle/golden"
    tar -xJf "$bundle/milnce.tar.xz" -C "$scratch/bundle" || { echo "gpu.sh: cannot unpack $bundle/milnce.tar.xz" >&2; exit 2; }
    tar -xJf "$bundle/golden.tar.xz" -C "$scratch/bundle/golden" || { echo "gpu.sh: cannot unpack $bundle/golden.tar.xz" >&2; exit 2; }
    meta="$(find "$scratch/bundle/golden" -maxdepth 2 -name meta.json | head -n 1)"
    [ -n "$meta" ] || { echo "gpu.sh: $bundle/golden.tar.xz holds no fixture folder (no meta.json)" >&2; exit 2; }
    golden="$(dirname "$meta")"
    positional=("$scratch/bundle/milnce" "${positional[0]}")
fi
[ "${#positional[@]}" -eq 2 ] || { echo "gpu.sh: expected PACKAGE_DIR and OUT_DIR" >&2; usage 2; }
case "$budget" in
    ''|*[!0-9]*) [ -z "$budget" ] || { echo "gpu.sh: --budget must be a whole number of seconds, got '$budget'" >&2; exit 2; } ;;
esac

here="$(cd "$(dirname "$0")" && pwd)"
repository="$(dirname "$here")"
package="$(cd "${positional[0]}" 2>/dev/null && pwd)" || { echo "gpu.sh: no folder ${positional[0]}" >&2; exit 2; }
mkdir -p "${positional[1]}" || { echo "gpu.sh: cannot create ${positional[1]}" >&2; exit 2; }
out="$(cd "${positional[1]}" && pwd)"
golden="${golden:-$repository/../shared/golden/s3d-plain}"
python="${PYTHON:-python3}"

if [ ! -x "$package/milnce" ]; then
    echo "gpu.sh: $package holds no milnce binary; pass the folder of \`make package\` (dist/milnce) or a build folder" >&2
    exit 2
fi
if [ -x "$package/milnce.sh" ]; then milnce="$package/milnce.sh"; else milnce="$package/milnce"; fi
# The machine's PyTorch is the libtorch milnce runs on (milnce.sh would find the same one).
torch_lib="$("$python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null)"
if [ -n "$torch_lib" ]; then
    export MILNCE_TORCH_LIB="$torch_lib"
    export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
else
    echo "gpu.sh: warning: $python cannot import torch; the PyTorch steps will fail, and milnce needs libtorch on LD_LIBRARY_PATH" >&2
fi
if [ ! -f "$golden/meta.json" ]; then
    echo "gpu.sh: warning: no golden fixture at $golden (no meta.json); the check steps will fail: pass --golden DIR" >&2
fi

cores="$(nproc)"
if [ "$dry_run" = 1 ]; then
    device=cpu; frames=8; size=32; batches=(2 4); warmup=1; iterations=1
    threads=(--threads 1); python_threads=(--threads 1); budget="${budget:-1200}"; limit_scale=4
    demo_arguments=(--videos 12 --eval_videos 4 --epochs 1 --num_frames 8 --video_size 32 --batch_size 4
                    --eval_every 1 --num_thread_reader 2 --threads 1)
    synth_arguments=(--videos 8 --eval_videos 1 --seconds 14 --events 2 --size 32)
    train_size=(--num_frames 8 --video_size 32 --batch_size 4 --num_thread_reader 2 --threads 1)
    loader_arguments=(--batch_size 4 --loader_clips 8 --num_thread_reader 2 --num_frames 8 --video_size 112)
    store_synth=(--videos 4 --eval_videos 1 --seconds 14 --events 2 --size 64); store_arguments=(--num_frames 8 --video_size 32)
else
    device=cuda; frames=16; size=224; batches=(64 128); warmup=2; iterations=5
    threads=(); python_threads=(); budget="${budget:-330}"; limit_scale=1
    demo_arguments=()
    synth_arguments=(--videos 64 --eval_videos 1 --seconds 14 --events 2 --size 64)
    train_size=(--num_frames 8 --video_size 64 --batch_size 16)
    loader_arguments=(--batch_size 64 --loader_clips 1024)
    store_synth=(--videos 24 --eval_videos 1 --seconds 24 --events 2 --size 320); store_arguments=()
fi

logs="$out/logs"
rm -rf "$logs" "$out/gpu.md" "$out/gpu.json" "$out/logs.tar.gz"
mkdir -p "$logs"
steps="$logs/steps.tsv"
: > "$steps"
started=$SECONDS
step_number=0

# quote ARG...: the arguments as one shell command line.
quote() { local quoted; printf -v quoted '%q ' "$@"; printf '%s' "${quoted% }"; }

# record NAME KIND STATUS EXIT SECONDS LIMIT COMMAND: one line of steps.tsv.
record() {
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$6" "$(printf '%02d-%s.log' "$step_number" "$1")" "$7" >> "$steps"
    printf '[%02d] %-22s %-28s %6s s\n' "$step_number" "$1" "$3" "$5"
}

# selected NAME: whether --steps (if given) names the step.
selected() {
    [ -z "$only" ] && return 0
    local pattern patterns
    IFS=, read -r -a patterns <<< "$only"
    for pattern in "${patterns[@]}"; do
        # shellcheck disable=SC2053 # the pattern is meant to match as a glob
        [[ "$1" == $pattern ]] && return 0
    done
    return 1
}

# step NAME KIND LIMIT COMMAND: runs COMMAND (a shell command line) under `timeout` with its
# output in logs/NN-NAME.log, unless it is not selected or the budget has run out.
step() {
    local name="$1" kind="$2" limit=$(( $3 * limit_scale )) command="$4"
    step_number=$((step_number + 1))
    local log; log="$logs/$(printf '%02d-%s.log' "$step_number" "$name")"
    if ! selected "$name"; then
        echo "skipped: not selected by --steps $only" > "$log"
        record "$name" "$kind" "skipped (not selected)" "" 0 0 "$command"
        return
    fi
    local remaining=$(( budget - (SECONDS - started) ))
    if [ "$remaining" -lt 20 ]; then
        echo "skipped: the ${budget} s budget is spent" > "$log"
        record "$name" "$kind" "skipped (time budget)" "" 0 0 "$command"
        return
    fi
    [ "$limit" -gt $((remaining - 5)) ] && limit=$((remaining - 5))
    printf '$ %s\n' "$command" > "$log"
    local begin=$SECONDS
    timeout --kill-after=10 "$limit" bash -c "$command" >> "$log" 2>&1 < /dev/null
    local status=$?
    local seconds=$((SECONDS - begin))
    case "$status" in
        0) record "$name" "$kind" ok 0 "$seconds" "$limit" "$command" ;;
        124|137) record "$name" "$kind" "timeout (${limit} s)" "$status" "$seconds" "$limit" "$command" ;;
        *) record "$name" "$kind" "failed (exit $status)" "$status" "$seconds" "$limit" "$command" ;;
    esac
}

# skip NAME KIND REASON COMMAND: a step that does not apply here.
skip() {
    local reason="$3"
    selected "$1" || reason="not selected"
    step_number=$((step_number + 1))
    echo "skipped: $reason" > "$logs/$(printf '%02d-%s.log' "$step_number" "$1")"
    record "$1" "$2" "skipped ($reason)" "" 0 0 "$4"
}

m="$(quote "$milnce")"
p="$(quote "$python")"
g="$(quote "$golden")"
echo "gpu.sh$([ "$dry_run" = 1 ] && echo ' --dry-run'): $milnce, fixture $golden, device $device, budget $budget s, logs in $logs"

# 1. The machine.
step environment environment 60 "echo \"cores: $cores\"; uname -srm; if command -v nvidia-smi > /dev/null; then nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; else echo 'no nvidia-smi'; fi; $p -c 'import torch; print(\"torch\", torch.__version__, \"cuda\", torch.version.cuda, \"available\", torch.cuda.is_available(), \"devices\", torch.cuda.device_count(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else \"\")'; $m --version"

# 2. Conformance: ours on the device, then PyTorch itself on the same fixture.
step check-cuda-fp32 check 60 "$m check --golden $g --device $device --tf32 0 ${threads[*]} --json $(quote "$logs/check-cuda-fp32.json")"
step check-cuda-bf16 check 90 "$m check --golden $g --device $device --precision bf16 ${threads[*]} --json $(quote "$logs/check-cuda-bf16.json")"
step check-cpu check 60 "$m check --golden $g --device cpu ${threads[*]} --json $(quote "$logs/check-cpu.json")"
step pytorch-golden-cuda-fp32 pytorch-golden 60 "$p $(quote "$here/golden_reference.py") --golden $g --device $device --tf32 0 ${python_threads[*]} --json $(quote "$logs/pytorch-golden-cuda-fp32.json")"

# 3. The training step, side by side with PyTorch, at one batch: best eager first, then ours
#    with bf16 + channels_last (the pair the targets compare), then the rest.
training_steps() {
    local batch="$1"
    local shape="--batch_size $batch --num_frames $frames --video_size $size --num_candidates 4 --warmup $warmup --iterations $iterations"
    step "pytorch-train-b$batch" pytorch-train 150 "$p $(quote "$here/reference_train_step.py") --device $device $shape --modes best,reference,gpu-convert ${python_threads[*]}"
    step "ours-bf16-cl-b$batch" ours-train 75 "$m bench train --device $device $shape --precision bf16 --channels_last ${threads[*]}"
    step "ours-fp32-b$batch" ours-train 75 "$m bench train --device $device $shape ${threads[*]}"
    step "ours-bf16-b$batch" ours-train 75 "$m bench train --device $device $shape --precision bf16 ${threads[*]}"
}
training_steps "${batches[0]}"

# 4. Training end to end: one process per GPU over NCCL, a few steps on a generated dataset.
data="$(quote "$scratch/synth")"
step nccl-train train 90 "$m synth --output $data ${synth_arguments[*]} && $m train --multiprocessing-distributed --dist-backend nccl --train_csv $data/train.csv --video_path $data/videos --caption_root $data/captions --word2vec_path $data/word2vec.pth --token_to_word_path $data/dict.npy --checkpoint_root $(quote "$scratch/checkpoint") --log_root $(quote "$scratch/log") --checkpoint_dir nccl --fps 4 --num_candidates 1 --epochs 1 --max_steps 4 --warmup_steps 1 --n_display 1 --no_tensorboard ${train_size[*]}"

# 5. The demo on the device.
step demo demo 120 "$m demo --device $device --output $(quote "$scratch/demo") ${demo_arguments[*]}"

# 6. The loader on all cores, raw.
step loader-raw loader 90 "$m bench loader --parts loader ${loader_arguments[*]}"

# 7. The training step at the second batch.
training_steps "${batches[1]}"

# 8. The loader from a prepared store, when this binary has one.
store_command="$m synth --output $(quote "$scratch/store") ${store_synth[*]} && $m bench loader --parts store --video_path $(quote "$scratch/store/videos") ${store_arguments[*]}"
if "$milnce" bench loader --help 2>/dev/null | grep -qw store; then
    step loader-store loader-store 90 "$store_command"
else
    skip loader-store loader-store "this binary has no store benchmark" "$store_command"
fi

total=$((SECONDS - started))
echo "done in $total s"
if ! "$python" "$here/gpu_report.py" "$out" --budget "$budget" --total "$total" --dry-run "$dry_run" \
        --device "$device" --golden "$golden" --package "$package"; then
    echo "gpu.sh: the report could not be written by $python; the raw step list follows" >&2
    {
        echo "| step | command | figure | ratio |"
        echo "|---|---|---|---|"
        while IFS=$'\t' read -r name kind status code seconds limit log command; do
            echo "| $name | \`$command\` | $status, $seconds s (see logs/$log) | |"
        done < "$steps"
    } > "$out/gpu.md"
fi
tar -czf "$out/logs.tar.gz" -C "$out" logs && rm -rf "$logs"
cat "$out/gpu.md"
# Exit status: 0 when every step passed (or did not apply), 1 otherwise.
[ -f "$out/gpu.json" ] && "$python" -c 'import json, sys; sys.exit(0 if json.load(open(sys.argv[1]))["passed"] else 1)' "$out/gpu.json"
