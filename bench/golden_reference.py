"""PyTorch itself on a golden fixture: the reference model (reference_model.py) run from the
fixture's files on a device, each tensor's relative error against the fixture printed in the form
of `milnce check`, so that the two stand side by side on one machine:

    python bench/golden_reference.py --golden ../shared/golden/s3d-plain --device cuda --tf32 0
    milnce check --golden ../shared/golden/s3d-plain --device cuda --tf32 0

It is the measure of what the fixture allows on a device: `milnce check`'s training-mode
tolerances must admit at least what PyTorch itself gives there. Always exits 0 when it ran
(it reports, it does not judge); `--json FILE` also writes the errors as JSON.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_model import S3D, milnce_loss  # noqa: E402


def relative_error(value, reference):
    a = value.detach().double().cpu()
    b = reference.detach().double().cpu()
    denominator = b.norm().item()
    difference = (a - b).norm().item()
    return difference / denominator if denominator else difference


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--golden', required=True, help='the fixture folder (meta.json, state_dict.pth, io.pth)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--precision', choices=['fp32', 'bf16'], default='fp32')
    parser.add_argument('--tf32', type=int, choices=[0, 1], default=None,
                        help="TF32 in convolutions and matrix products (default: PyTorch's own)")
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--json', default=None, help='also write the errors to this file')
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.tf32 is not None:
        torch.backends.cudnn.allow_tf32 = bool(args.tf32)
        torch.backends.cuda.matmul.allow_tf32 = bool(args.tf32)
    device = torch.device(args.device)
    folder = args.golden
    meta = json.load(open(os.path.join(folder, 'meta.json')))
    io = torch.load(os.path.join(folder, 'io.pth'), weights_only=True)
    state = torch.load(os.path.join(folder, 'state_dict.pth'), weights_only=True)
    model = S3D(512, space_to_depth=meta['space_to_depth'], vocab=meta['vocab'])
    model.load_state_dict(state)
    model.to(device)
    video, text = io['video'].to(device), io['text'].to(device)

    def autocast():
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == 'bf16')

    errors = {}
    model.eval()
    with torch.no_grad(), autocast():
        errors['eval_mixed5c'] = relative_error(model.forward_video(video, mixed5c=True).float(), io['eval_mixed5c'])
        errors['eval_video_embd'] = relative_error(model.forward_video(video).float(), io['eval_video_embd'])
        errors['eval_text_embd'] = relative_error(model.text_module(text).float(), io['eval_text_embd'])
    model.train()
    with autocast():
        v, t = model(video, text)
        v, t = v.float(), t.float()
    loss = milnce_loss(v, t)
    loss.backward()
    errors['train_video_embd'] = relative_error(v, io['train_video_embd'])
    errors['train_text_embd'] = relative_error(t, io['train_text_embd'])
    errors['train_loss'] = abs(loss.item() - io['train_loss'].item())
    parameters, buffers = dict(model.named_parameters()), dict(model.named_buffers())
    for key in sorted(io):
        if key.startswith('grad.'):
            errors[key] = relative_error(parameters[key[5:]].grad, io[key])
        elif key.startswith('after_train_step.'):
            errors[key] = relative_error(buffers[key[17:]].float(), io[key].float())

    print(f"PyTorch {torch.__version__} on {device}, {args.precision}, TF32 convolutions "
          f"{'on' if torch.backends.cudnn.allow_tf32 else 'off'}, matrix products "
          f"{'on' if torch.backends.cuda.matmul.allow_tf32 else 'off'}: relative errors against {folder}")
    for key, value in errors.items():
        print(f"  {key:60s} {value:.3e}")
    groups = {
        'eval': [v for k, v in errors.items() if k.startswith('eval_')],
        'train embeddings': [errors['train_video_embd'], errors['train_text_embd']],
        'train loss (absolute)': [errors['train_loss']],
        'gradients': [v for k, v in errors.items() if k.startswith('grad.')],
        'BatchNorm buffers': [v for k, v in errors.items() if k.startswith('after_train_step.')],
    }
    for name, values in groups.items():
        if values:
            print(f"largest {name}: {max(values):.3e}")
    if args.json:
        with open(args.json, 'w') as file:
            json.dump({'torch': torch.__version__, 'device': str(device), 'precision': args.precision,
                       'errors': errors, 'largest': {k: max(v) for k, v in groups.items() if v}}, file, indent=1)


if __name__ == '__main__':
    main()
