/// Python source of the reference's code, shared by tests that use it as an oracle.
public enum PythonOracles {
    /// The reference's `compute_metrics(x)` (from its evaluation scripts), verbatim, returning
    /// the metrics dictionary; `compute_metrics_with_count` also returns `len(ind)`.
    public static let computeMetrics = """
    import numpy as np

    def compute_metrics_with_count(x):
        sx = np.sort(-x, axis=1)
        d = np.diag(-x)
        d = d[:, np.newaxis]
        ind = sx - d
        ind = np.where(ind == 0)
        ind = ind[1]
        metrics = {}
        metrics['R1'] = float(np.sum(ind == 0)) / len(ind)
        metrics['R5'] = float(np.sum(ind < 5)) / len(ind)
        metrics['R10'] = float(np.sum(ind < 10)) / len(ind)
        metrics['MR'] = np.median(ind) + 1
        return metrics, len(ind)

    def compute_metrics(x):
        return compute_metrics_with_count(x)[0]

    """
}

extension PythonOracles {
    /// The reference's learning-rate schedule: `get_cosine_schedule_with_warmup`, a linear warmup
    /// and half a cosine under PyTorch's `LambdaLR`, stepped once per batch.
    public static let cosineScheduleWithWarmup = """
    import math
    from torch.optim.lr_scheduler import LambdaLR

    def get_cosine_schedule_with_warmup(optimizer, num_warmup_steps, num_training_steps, num_cycles=.5, last_epoch=-1):
        def lr_lambda(current_step):
            if current_step < num_warmup_steps:
                return float(current_step) / float(max(1, num_warmup_steps))
            progress = float(current_step - num_warmup_steps) / float(max(1, num_training_steps - num_warmup_steps))
            return max(0.0, 0.5 * (1.0 + math.cos(math.pi * float(num_cycles) * 2.0 * progress)))
        return LambdaLR(optimizer, lr_lambda, last_epoch)

    """

    /// The learning rates `torch.optim.Adam` takes its steps with under the reference's schedule:
    /// arguments base rate, warmup steps, total steps, and how many steps; prints them as JSON.
    public static let scheduledLearningRates = """
    import json, sys, torch
    \(cosineScheduleWithWarmup)
    base, warmup, total, count = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=base)
    scheduler = get_cosine_schedule_with_warmup(optimizer, warmup, total)
    rates = []
    for _ in range(count):
        rates.append(optimizer.param_groups[0]['lr'])
        optimizer.step()
        scheduler.step()
    print(json.dumps(rates))
    """

    /// `torch.optim` over a few steps, as the reference trains: `sys.argv[1]` is a folder,
    /// `sys.argv[2]` a JSON configuration (`optimizer` "adam" or "sgd", `lr`, `momentum`,
    /// `weight_decay`, `steps`, `seed`, and `warmup` and `total` for the reference's warmup and
    /// cosine `LambdaLR`, stepped after each optimiser step).
    ///
    /// Four float32 parameters start from seeded random values: 0 to 2 are trained, 3 is frozen
    /// (no gradient, as the word embedding); parameter 2 has no gradient at steps 1, 4, 7, …
    /// (PyTorch skips it then). Each step's gradients are seeded random tensors. The script
    /// writes `<folder>/steps.pth` with `initial.<p>`, `grad.<step>.<p>` (the gradients given),
    /// `after.<step>.<p>` (the parameters after each step) and `state.<p>.<name>` (the
    /// optimiser's state at the end), and prints `{"lrs": [the learning rate of each step]}`.
    public static let optimizerSteps = """
    import json, sys, torch
    \(cosineScheduleWithWarmup)
    folder, config = sys.argv[1], json.loads(sys.argv[2])
    steps = config['steps']
    g = torch.Generator().manual_seed(config['seed'])
    shapes = [(3, 4), (5,), (2, 3, 3), (6,)]
    initial = [torch.randn(s, generator=g) for s in shapes]
    grads = [[torch.randn(s, generator=g) * (0.2 + 0.3 * step) for s in shapes] for step in range(steps)]
    params = [torch.nn.Parameter(t.clone()) for t in initial]
    params[3].requires_grad_(False)
    if config['optimizer'] == 'adam':
        opt = torch.optim.Adam(params, lr=config['lr'], weight_decay=config['weight_decay'])
    else:
        opt = torch.optim.SGD(params, lr=config['lr'], momentum=config['momentum'],
                              weight_decay=config['weight_decay'])
    sched = get_cosine_schedule_with_warmup(opt, config['warmup'], config['total'])
    out = {f'initial.{i}': t for i, t in enumerate(initial)}
    lrs = []
    for step in range(steps):
        lrs.append(opt.param_groups[0]['lr'])
        for i, p in enumerate(params):
            given = p.requires_grad and not (i == 2 and step % 3 == 1)
            p.grad = grads[step][i].clone() if given else None
            if given: out[f'grad.{step}.{i}'] = grads[step][i]
        opt.step()
        sched.step()
        for i, p in enumerate(params): out[f'after.{step}.{i}'] = p.detach().clone()
    for i, p in enumerate(params):
        for name, value in (opt.state[p] if p in opt.state else {}).items():
            if torch.is_tensor(value): out[f'state.{i}.{name}'] = value.detach().clone()
    torch.save(out, folder + '/steps.pth')
    print(json.dumps({'lrs': lrs}))
    """
}
