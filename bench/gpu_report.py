"""The report of bench/gpu.sh: reads OUT_DIR/logs (steps.tsv and each step's log) and writes
OUT_DIR/gpu.md (one markdown table: each row a command, a figure, a ratio) and OUT_DIR/gpu.json.

    python bench/gpu_report.py OUT_DIR [--budget S --total S --dry-run 0|1 --device D ...]

Ratios: a check's largest error / tolerance; PyTorch's own largest error on the fixture against
milnce's fp32 tolerance; a training step's clips/s (and peak memory) against best PyTorch eager at
the same batch; the loader's clips/s against the fastest training step of ours (how much of one GPU
it feeds); the store against the raw loader; the demo's R@1 against chance.
"""
import argparse
import json
import os
import re
import sys

# milnce check's fp32 tolerances (GoldenCheck.Tolerances.float32), for PyTorch's own errors.
FP32_TOLERANCES = {'eval': 1e-5, 'train embeddings': 3e-3, 'train loss (absolute)': 5e-4,
                   'gradients': 1e-1, 'BatchNorm buffers': 1e-4}


def read(path):
    try:
        with open(path, errors='replace') as file:
            return file.read()
    except OSError:
        return ''


def load_json(path):
    try:
        with open(path) as file:
            return json.load(file)
    except (OSError, ValueError):
        return None


# Statuses that neither pass nor fail a run.
NEUTRAL = {'skipped (not selected)'}


def last_line(log):
    """The last line of a log that says something (why a step failed), shortened."""
    lines = [line.strip() for line in log.splitlines() if line.strip() and not line.startswith('$ ')]
    return lines[-1][:200] if lines else ''


def memory_mib(text, unit):
    value = float(text)
    return value * 1024 if unit == 'GiB' else value


def parse_environment(step, log):
    lines = [line for line in log.splitlines()[1:] if line.strip()]
    figure = '; '.join(lines[:6])
    return [{'label': 'environment', 'figure': figure}]


def parse_check(step, log, logs):
    report = load_json(os.path.join(logs, step['name'] + '.json'))
    if not report:
        verdict = re.findall(r'^(PASS|FAIL): .*$', log, re.M)
        return [{'label': step['name'], 'figure': verdict[-1] if verdict else None}]
    lines = report.get('lines', [])
    judged = [line for line in lines if line.get('tolerance') is not None]
    failed = [line['name'] for line in lines if not line_passed(line)]
    ratios = [error_of(line) / line['tolerance'] for line in judged if line['tolerance']]
    largest = max(ratios) if ratios else 0.0
    verdict = 'PASS' if not failed else 'FAIL'
    figure = (f"{verdict}: {len(judged) - len([n for n in failed if n in {l['name'] for l in judged}])} of "
              f"{len(judged)} judged tensors within tolerance ({report.get('device')}, {report.get('precision')}, "
              f"TF32 convolutions {'on' if report.get('tf32Convolutions') else 'off'})")
    if len(judged) < len(lines):
        figure += f"; {len(lines) - len(judged)} training-mode tensors reported only"
    if failed:
        figure += '; failed: ' + ', '.join(failed)
    by_part = {}
    for line in lines:
        by_part[line['part']] = max(by_part.get(line['part'], 0.0), error_of(line))
    return [{'label': step['name'], 'figure': figure, 'ratio': f'{largest:.3g} of tolerance',
             'values': {'passed': not failed, 'largest_error_over_tolerance': largest,
                        'largest_error_by_part': by_part}}]


def error_of(line):
    value = line.get('error')
    return float('inf') if isinstance(value, str) else float(value)


def line_passed(line):
    error = error_of(line)
    tolerance = line.get('tolerance')
    return error <= tolerance if tolerance is not None else error != float('inf')


def parse_pytorch_golden(step, log, logs):
    report = load_json(os.path.join(logs, step['name'] + '.json'))
    if not report:
        return [{'label': step['name'], 'figure': None}]
    largest = report.get('largest', {})
    figure = ', '.join(f'{name} {value:.2e}' for name, value in largest.items())
    ratio = max((value / FP32_TOLERANCES[name] for name, value in largest.items() if name in FP32_TOLERANCES),
                default=0.0)
    return [{'label': step['name'], 'figure': f"PyTorch {report.get('torch')} largest errors: {figure}",
             'ratio': f"{ratio:.3g} of milnce's fp32 tolerance", 'values': {'largest': largest, 'ratio': ratio}}]


def parse_pytorch_train(step, log, logs):
    batch = step['name'].rsplit('-b', 1)[-1]
    rows = []
    for match in re.finditer(r'training step \[([\w-]+)\]\s+([\d.]+) s\s+([\d.]+) clips/s(?:\s+peak memory ([\d.]+) MiB)?', log):
        mode, seconds, rate, peak = match.groups()
        rows.append({'label': f'pytorch-{mode}-b{batch}', 'batch': int(batch), 'who': 'pytorch', 'mode': mode,
                     'values': {'seconds': float(seconds), 'clips_per_second': float(rate),
                                'peak_memory_mib': float(peak) if peak else None}})
    for match in re.finditer(r'training step \[([\w-]+)\] failed: (.*)', log):
        rows.append({'label': f'pytorch-{match.group(1)}-b{batch}', 'figure': 'failed: ' + match.group(2)[:160]})
    return rows


def parse_ours_train(step, log, logs):
    batch = step['name'].rsplit('-b', 1)[-1]
    match = re.search(r'^training step\s+([\d.]+) s\s+([\d.]+) clips/s\s+peak memory ([\d.]+) (MiB|GiB)', log, re.M)
    if not match:
        return [{'label': step['name']}]
    seconds, rate, peak, unit = match.groups()
    return [{'label': step['name'], 'batch': int(batch), 'who': 'ours',
             'values': {'seconds': float(seconds), 'clips_per_second': float(rate),
                        'peak_memory_mib': memory_mib(peak, unit)}}]


def parse_train(step, log, logs):
    match = re.search(r'training finished: (\d+) steps(?:, last loss ([\d.naif]+))?', log)
    workers = re.search(r'(no GPU on this machine; one worker on the CPU)', log)
    if not match:
        return [{'label': step['name']}]
    figure = f"{match.group(1)} steps" + (f", last loss {match.group(2)}" if match.group(2) else '')
    figure += ' (' + (workers.group(1) if workers else 'one worker per GPU') + ')'
    return [{'label': step['name'], 'figure': figure, 'values': {'steps': int(match.group(1))}}]


def parse_demo(step, log, logs):
    model = re.search(r'^\s*model\s+([\d.]+)%\s+([\d.]+)%\s+([\d.]+)%\s+([\d.]+)', log, re.M)
    chance = re.search(r'R@1 is ([\d.]+) times chance', log)
    if not model:
        return [{'label': step['name']}]
    figure = f"R@1 {model.group(1)}%, R@5 {model.group(2)}%, R@10 {model.group(3)}%, median rank {model.group(4)}"
    return [{'label': step['name'], 'figure': figure,
             'ratio': f"{chance.group(1)}x chance (R@1)" if chance else None,
             'values': {'r1': float(model.group(1)), 'r1_over_chance': float(chance.group(1)) if chance else None}}]


def parse_loader(step, log, logs):
    match = re.search(r'(\d+) batches in ([\d.]+) s: ([\d.]+) clips/s, [\d.]+ batches/s, ([\d.]+) clips per core-second', log)
    threads = re.search(r'training loader: batch (\d+), (\d+) threads', log)
    if not match:
        return [{'label': step['name']}]
    figure = f"{match.group(3)} clips/s, {match.group(4)} clips per core-second"
    if threads:
        figure += f" (batch {threads.group(1)}, {threads.group(2)} threads)"
    return [{'label': step['name'], 'figure': figure, 'who': 'loader',
             'values': {'clips_per_second': float(match.group(3)), 'clips_per_core_second': float(match.group(4))}}]


def parse_store(step, log, logs):
    match = re.findall(r'^store vs raw: ([\d.]+)x.*$', log, re.M)
    if not match:
        return [{'label': step['name']}]
    line = re.findall(r'^store vs raw: .*$', log, re.M)[-1]
    return [{'label': step['name'], 'figure': line, 'ratio': f'{match[-1]}x raw',
             'values': {'store_over_raw': float(match[-1])}}]


PARSERS = {'environment': lambda s, l, d: parse_environment(s, l), 'check': parse_check,
           'pytorch-golden': parse_pytorch_golden, 'pytorch-train': parse_pytorch_train,
           'ours-train': parse_ours_train, 'train': parse_train, 'demo': parse_demo, 'loader': parse_loader,
           'loader-store': parse_store}


def add_training_ratios(rows):
    """Each training row against best PyTorch eager at its batch."""
    best = {row['batch']: row['values'] for row in rows
            if row.get('who') == 'pytorch' and row.get('mode') == 'best' and 'values' in row}
    fastest = max((row['values']['clips_per_second'] for row in rows if row.get('who') == 'ours' and 'values' in row),
                  default=None)
    for row in rows:
        values = row.get('values', {})
        if row.get('who') in ('ours', 'pytorch') and 'clips_per_second' in values:
            peak = values.get('peak_memory_mib')
            row['figure'] = f"{values['clips_per_second']:.2f} clips/s" + (f", peak {peak / 1024:.2f} GiB" if peak else '')
            reference = best.get(row['batch'])
            if reference:
                ratio = values['clips_per_second'] / reference['clips_per_second']
                row['ratio'] = f"{ratio:.2f}x best eager's clips/s"
                values['speed_over_best_eager'] = ratio
                if peak and reference.get('peak_memory_mib'):
                    memory = peak / reference['peak_memory_mib']
                    row['ratio'] += f", {memory:.2f}x its memory"
                    values['memory_over_best_eager'] = memory
        if row.get('who') == 'loader' and fastest:
            feeds = values['clips_per_second'] / fastest
            row['ratio'] = f"{feeds:.2f}x the fastest training step of ours ({fastest:.0f} clips/s)"
            values['over_fastest_step'] = feeds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out')
    parser.add_argument('--budget', type=float, default=0)
    parser.add_argument('--total', type=float, default=0)
    parser.add_argument('--dry-run', type=int, default=0)
    parser.add_argument('--device', default='')
    parser.add_argument('--golden', default='')
    parser.add_argument('--package', default='')
    args = parser.parse_args()
    logs = os.path.join(args.out, 'logs')
    steps = []
    for line in read(os.path.join(logs, 'steps.tsv')).splitlines():
        fields = line.split('\t')
        if len(fields) < 8:
            continue
        name, kind, status, code, seconds, limit, log, command = fields[:8]
        steps.append({'name': name, 'kind': kind, 'status': status, 'exit_code': int(code) if code else None,
                      'seconds': float(seconds or 0), 'limit_seconds': float(limit or 0), 'log': 'logs/' + log,
                      'command': command})
    all_rows = []
    for step in steps:
        log = read(os.path.join(args.out, step['log']))
        try:
            rows = PARSERS.get(step['kind'], lambda s, l, d: [{'label': s['name']}])(step, log, logs)
        except Exception as error:  # a log in an unexpected form is reported, not fatal
            rows = [{'label': step['name'], 'figure': f'unreadable log ({type(error).__name__}: {error})'}]
        if not rows:
            rows = [{'label': step['name']}]
        for row in rows:
            row['step'] = step['name']
            failed = step['status'].startswith(('failed', 'timeout'))
            if failed and not row.get('figure') and not row.get('values'):
                row['figure'] = last_line(log)
        step['rows'] = rows
        all_rows += rows
    add_training_ratios(all_rows)

    def step_passed(step):
        if step['status'] == 'ok':
            return all(row.get('values', {}).get('passed', True) for row in step['rows'])
        return step['status'] in NEUTRAL or step['status'].startswith('skipped (this binary')

    for step in steps:
        step['passed'] = step_passed(step)
    ran = [step for step in steps if step['status'] != 'skipped (not selected)']
    passed = bool(ran) and all(step['passed'] for step in steps)
    failed = [step['name'] for step in steps if not step['passed']]
    title = 'bench/gpu.sh --dry-run (CPU, tiny sizes)' if args.dry_run else 'bench/gpu.sh'
    verdict = 'every step passed' if passed else f"{len(failed)} of {len(steps)} steps did not pass: {', '.join(failed)}"
    if len(ran) < len(steps):
        verdict += f" ({len(steps) - len(ran)} not selected)"
    machine = next((row.get('figure') for step in steps if step['name'] == 'environment' and step['status'] == 'ok'
                    for row in step['rows']), None) or 'not recorded'
    lines = [f"# {title}: {verdict}", '',
             f"Package {args.package}, fixture {args.golden}, device {args.device}; {args.total:.0f} s of a "
             f"{args.budget:.0f} s budget. Machine: {machine}", '',
             '| step | command | figure | ratio | status | seconds |', '|---|---|---|---|---|---|']
    for step in steps:
        for index, row in enumerate(step['rows']):
            figure = row.get('figure') or ('—' if step['status'] != 'ok' else 'no figure in the log')
            command = step['command'] if index == 0 else '(same)'
            cells = [row['label'], f"`{command}`", figure, row.get('ratio') or '—', step['status'],
                     f"{step['seconds']:.0f}"]
            lines.append('| ' + ' | '.join(cell.replace('|', '\\|').replace('\n', ' ') for cell in cells) + ' |')
    lines += ['', 'Full logs: logs.tar.gz (logs/NN-step.log, the check reports as JSON).']
    with open(os.path.join(args.out, 'gpu.md'), 'w') as file:
        file.write('\n'.join(lines) + '\n')
    with open(os.path.join(args.out, 'gpu.json'), 'w') as file:
        json.dump({'dry_run': bool(args.dry_run), 'passed': passed, 'failed': failed, 'device': args.device,
                   'package': args.package,
                   'golden': args.golden, 'budget_seconds': args.budget, 'total_seconds': args.total,
                   'machine': machine, 'steps': steps}, file, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
