#!/usr/bin/env python
"""Plot the collapse signals of one or more pre-training runs side by side.

For each run (a work dir, or a ``scalars.json``): the teacher's mean
per-sample entropy and the entropy of its batch-mean distribution, both as
fractions of ln K, against the iteration. Uniform collapse: the first rises
towards 1. One-dimension collapse: the second falls towards 0. A healthy
run keeps the first low and the second high; the dashed line is the 0.5
threshold the demo is held to.

    python tools/analysis_tools/plot_collapse_signals.py \\
        work_dirs/demo/mst work_dirs/demo/dino --out collapse.png \\
        --labels MST DINO --num-classes 2048
"""
import argparse
import glob
import json
import math
import os.path as osp


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'runs', nargs='+', help='work dirs or scalars.json files')
    parser.add_argument('--labels', nargs='+', help='one label per run')
    parser.add_argument(
        '--num-classes',
        type=int,
        required=True,
        help='K, the head\'s output dimension')
    parser.add_argument('--out', required=True, help='PNG to write')
    return parser.parse_args(argv)


def scalars_file(run):
    """The newest ``vis_data/scalars.json`` of a work dir, or ``run``."""
    if osp.isfile(run):
        return run
    found = sorted(glob.glob(osp.join(run, '*', 'vis_data', 'scalars.json')))
    if not found:
        raise FileNotFoundError(
            f'{run!r} is neither a scalars.json file nor a work dir with '
            '<timestamp>/vis_data/scalars.json')
    return found[-1]


def collapse_signals(path, num_classes):
    """(iterations, teacher H / ln K, batch H / ln K) of one run."""
    iters, entropy, batch = [], [], []
    with open(path) as f:
        for line in f:
            row = json.loads(line)
            if 'teacher_entropy' in row and 'teacher_batch_entropy' in row:
                iters.append(row.get('iter', row.get('step')))
                entropy.append(row['teacher_entropy'] / math.log(num_classes))
                batch.append(row['teacher_batch_entropy'] /
                             math.log(num_classes))
    if not iters:
        raise ValueError(f'{path} logs no teacher_entropy / '
                         'teacher_batch_entropy (is it an MST/DINO run?)')
    return iters, entropy, batch


def main(argv=None):
    args = parse_args(argv)
    labels = args.labels or [osp.basename(osp.normpath(r)) for r in args.runs]
    if len(labels) != len(args.runs):
        raise SystemExit(f'{len(labels)} labels for {len(args.runs)} runs')
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for run, label in zip(args.runs, labels):
        iters, entropy, batch = collapse_signals(
            scalars_file(run), args.num_classes)
        line, = axes[0].plot(iters, entropy, label=label)
        axes[1].plot(iters, batch, color=line.get_color(), label=label)
    titles = ('teacher entropy / ln K (-> 1: uniform collapse)',
              'batch-mean entropy / ln K (-> 0: one dimension)')
    for ax, title in zip(axes, titles):
        ax.axhline(0.5, color='grey', linestyle='--', linewidth=0.8)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel('iteration')
        ax.set_ylim(0, 1.02)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
