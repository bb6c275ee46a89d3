"""The reference implementation's training step, timed: S3D-G and the text network (written from
REFERENCE.md in reference_model.py), MIL-NCE, Adam, in PyTorch, fp32, as `main_distributed.py`'s
TrainOneBatch does it. Prints clips per second in the same form as `milnce bench train`, so that
both can run side by side on one machine:

    python bench/reference_train_step.py --batch_size 4 --num_frames 16 --video_size 112
    .build/release/milnce bench train --batch_size 4 --num_frames 16 --video_size 112
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_model import S3D, milnce_loss  # noqa: E402


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
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = bool(args.cudnn_benchmark)
    torch.manual_seed(0)

    model = S3D(512, vocab=args.vocab).to(device)
    optimizer = torch.optim.Adam(model.parameters(), 1e-4)
    video = torch.randint(0, 256, (args.batch_size, 3, args.num_frames, args.video_size, args.video_size),
                          dtype=torch.uint8)
    text = torch.randint(0, args.vocab, (args.batch_size, args.num_candidates, args.max_words))
    if device.type == 'cuda':
        video, text = video.pin_memory(), text.pin_memory()

    def step():
        v = video.float().to(device, non_blocking=True) / 255.0
        t = text.to(device, non_blocking=True).view(-1, text.shape[-1])
        optimizer.zero_grad()
        video_embd, text_embd = model(v, t)
        loss = milnce_loss(video_embd, text_embd)
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
    median = times[len(times) // 2]
    peak = (torch.cuda.max_memory_allocated(device) if device.type == 'cuda' else 0) / 2**20
    print(f"reference (PyTorch {torch.__version__}) device {device}, {torch.get_num_threads()} CPU threads, "
          f"batch {args.batch_size}, {args.num_frames}x{args.video_size}x{args.video_size}, fp32")
    print(f"training step      {median:9.3f} s  {args.batch_size / median:8.2f} clips/s"
          + (f"  peak memory {peak:.0f} MiB" if peak else ""))


if __name__ == '__main__':
    main()
