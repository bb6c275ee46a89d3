"""The reference implementation's training step, timed: S3D-G and the text network (written from
REFERENCE.md in reference_model.py), MIL-NCE, Adam, in PyTorch, as `main_distributed.py`'s
TrainOneBatch does it. Prints clips per second in the same form as `milnce bench train`, so that
both can run side by side on one machine:

    python bench/reference_train_step.py --batch_size 4 --num_frames 16 --video_size 112
    .build/release/milnce bench train --batch_size 4 --num_frames 16 --video_size 112

Modes (`--modes`, several run one after the other in this process, each from a fresh model):
  reference    as the reference wrote it: fp32, frames converted to float on the host
  gpu-convert  the same, with the uint8 frames copied to the device and converted there
  best         best PyTorch eager: gpu-convert with bf16 autocast and channels_last_3d
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_model import S3D, milnce_loss  # noqa: E402


MODES = {
    'reference': 'fp32, frames converted to float on the host (as written)',
    'gpu-convert': 'fp32, frames converted on the device',
    'best': 'bf16 autocast + channels_last_3d, frames converted on the device',
}


def measure(args, device, mode):
    """Median seconds per step of `mode` and the peak device memory in MiB (0 on the CPU)."""
    torch.manual_seed(0)
    model = S3D(512, vocab=args.vocab).to(device)
    channels_last = mode == 'best'
    if channels_last:
        model = model.to(memory_format=torch.channels_last_3d)
    optimizer = torch.optim.Adam(model.parameters(), 1e-4)
    video = torch.randint(0, 256, (args.batch_size, 3, args.num_frames, args.video_size, args.video_size),
                          dtype=torch.uint8)
    text = torch.randint(0, args.vocab, (args.batch_size, args.num_candidates, args.max_words))
    if device.type == 'cuda':
        video, text = video.pin_memory(), text.pin_memory()

    def step():
        if mode == 'reference':
            v = video.float().to(device, non_blocking=True) / 255.0
        else:
            v = video.to(device, non_blocking=True).float().div_(255.0)
        if channels_last:
            v = v.contiguous(memory_format=torch.channels_last_3d)
        t = text.to(device, non_blocking=True).view(-1, text.shape[-1])
        optimizer.zero_grad()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=mode == 'best'):
            video_embd, text_embd = model(v, t)
        loss = milnce_loss(video_embd.float(), text_embd.float())
        loss.backward()
        optimizer.step()
        return loss.item()

    model.train()
    for _ in range(args.warmup):
        step()
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(max(1, args.iterations)):
        start = time.perf_counter()
        step()
        if device.type == 'cuda':
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    times.sort()
    peak = (torch.cuda.max_memory_allocated(device) if device.type == 'cuda' else 0) / 2**20
    del model, optimizer
    if device.type == 'cuda':
        torch.cuda.empty_cache()
    return times[len(times) // 2], peak


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--batch_size', type=int, default=2)
    parser.add_argument('--num_frames', type=int, default=16)
    parser.add_argument('--video_size', type=int, default=112)
    parser.add_argument('--num_candidates', type=int, default=4)
    parser.add_argument('--max_words', type=int, default=20)
    parser.add_argument('--vocab', type=int, default=66250)
    parser.add_argument('--iterations', type=int, default=3)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--cudnn_benchmark', type=int, default=1)
    parser.add_argument('--modes', default='reference',
                        help='comma-separated: ' + ', '.join(MODES) + ' (default: reference)')
    args = parser.parse_args()
    modes = [mode for mode in args.modes.split(',') if mode]
    unknown = [mode for mode in modes if mode not in MODES]
    if unknown or not modes:
        parser.error(f"unknown mode(s) {unknown}; choose from {', '.join(MODES)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = bool(args.cudnn_benchmark)
    failures = 0
    for mode in modes:
        print(f"reference (PyTorch {torch.__version__}) device {device}, {torch.get_num_threads()} CPU threads, "
              f"batch {args.batch_size}, {args.num_frames}x{args.video_size}x{args.video_size}, "
              f"mode {mode}: {MODES[mode]}", flush=True)
        try:
            median, peak = measure(args, device, mode)
        except Exception as error:  # one mode failing (e.g. out of memory) does not stop the others
            failures += 1
            print(f"training step [{mode}] failed: {type(error).__name__}: {error}", flush=True)
            if device.type == 'cuda':
                torch.cuda.empty_cache()
            continue
        print(f"training step [{mode}] {median:9.3f} s  {args.batch_size / median:8.2f} clips/s"
              + (f"  peak memory {peak:.0f} MiB" if peak else ""), flush=True)
    sys.exit(1 if failures else 0)


if __name__ == '__main__':
    main()
