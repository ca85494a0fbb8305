#!/usr/bin/env python
"""The README's main job: show on a CPU, on real embedded data, that MST
learns something, and what it does.

1. Fashion-MNIST (Debian's ``dataset-fashion-mnist``) -> an image folder,
   ``--train-per-class`` / ``--test-per-class`` images per class (reused
   when already there).
2. MST pre-training of a small ViT with the paper's recipe scaled down
   (``configs/pretrain/mst_vit-tiny-p4_fashion-mnist.py``), then the DINO
   baseline with the same budget (``dino_vit-tiny-p4_fashion-mnist.py``).
3. Weighted k-NN on the test split (teacher cls token, T = 0.07) of a
   randomly initialised backbone, of DINO and of MST, and of raw pixels.
4. Pictures of what MST does (Figure 2 masks, Figure 3 attention heads,
   restorations, training curves) from the MST checkpoint.

It prints a table at the end and writes it to ``<work-dir>/results.md``
and ``results.json``. Every step shows mmengine's progress and ETA.

    python tools/demo.py                     # about 17 minutes on 2 idle cores
    python tools/demo.py --skip-dino         # MST only
"""
import argparse
import json
import os.path as osp
import sys

from mst_mm.utils.tool_steps import add_fashion_mnist_args
from mst_mm.utils.tool_steps import data_root_options as data_options
from mst_mm.utils.tool_steps import fashion_mnist_folder, run_step

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
MST_CONFIG = 'configs/pretrain/mst_vit-tiny-p4_fashion-mnist.py'
DINO_CONFIG = 'configs/pretrain/dino_vit-tiny-p4_fashion-mnist.py'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/demo')
    add_fashion_mnist_args(parser)
    parser.add_argument('--skip-dino', action='store_true')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        default=[],
        help='passed to both training runs (e.g. train_cfg.max_epochs=2)')
    return parser.parse_args(argv)


def run(cmd, what):
    """Run a step of the demo, streaming its output (progress bars)."""
    return run_step(cmd, what, REPO, 'demo')


def main(argv=None):
    args = parse_args(argv)
    py = sys.executable
    work_dir = osp.abspath(args.work_dir)
    timings = {}
    data, timings['convert'] = fashion_mnist_folder(args, REPO, 'demo', run)

    runs = [('MST', MST_CONFIG, 'mst')]
    if not args.skip_dino:
        runs.append(('DINO', DINO_CONFIG, 'dino'))
    checkpoints = {}
    for name, config, sub in runs:
        run_dir = osp.join(work_dir, sub)
        timings[f'train {name}'] = run([
            py, 'tools/train.py', config, '--work-dir', run_dir,
            '--cfg-options', *data_options(data), *args.cfg_options
        ], f'{name} pre-training')
        with open(osp.join(run_dir, 'last_checkpoint')) as f:
            checkpoints[name] = f.read().strip()

    rows = [('random init', MST_CONFIG, 'random', []),
            ('raw pixels', MST_CONFIG, 'none', ['--features', 'raw-pixels'])]
    rows += [(name, config, checkpoints[name], []) for name, config, _ in runs]
    results = {}
    for name, config, ckpt, extra in rows:
        out = osp.join(work_dir, 'knn', name.replace(' ', '_') + '.json')
        timings[f'k-NN {name}'] = run([
            py, 'tools/knn_eval.py', config, ckpt, '--out', out, *extra,
            '--cfg-options', *data_options(data)
        ], f'k-NN of {name}')
        with open(out) as f:
            results[name] = json.load(f)['metrics']

    pictures = osp.join(work_dir, 'pictures')
    run([
        py, 'tools/visualize_mst.py', MST_CONFIG, checkpoints['MST'],
        '--work-dir',
        osp.join(work_dir, 'mst'), '--out-dir', pictures, '--cfg-options',
        *data_options(data)
    ], 'pictures of MST')

    ks = sorted(
        {int(k[1:].split('_')[0])
         for r in results.values()
         for k in r})
    header = '| features | ' + ' | '.join(f'k={k} top-1' for k in ks) + ' |'
    lines = [
        f'Weighted k-NN on the Fashion-MNIST test split '
        f'({args.test_per_class} x 10 queries, {args.train_per_class} x 10 '
        'training images as the memory bank):', '', header,
        '| --- ' * (len(ks) + 1) + '|'
    ]
    for name, metrics in results.items():
        lines.append(f'| {name} | ' + ' | '.join(f'{metrics[f"k{k}_top1"]:.1f}'
                                                 for k in ks) + ' |')
    signals = collapse_signals(runs, work_dir)
    lines += [
        '', 'Collapse signals of each teacher at the end of pre-training '
        '(fractions of ln K; healthy: entropy < 0.5, batch entropy > 0.5):',
        '', '| run | teacher entropy / ln K | batch-mean entropy / ln K |',
        '| --- | --- | --- |'
    ] + [
        f'| {name} | {s["entropy"]:.2f} | {s["batch_entropy"]:.2f} |'
        for name, s in signals.items()
    ]
    table = '\n'.join(lines)
    with open(osp.join(work_dir, 'results.md'), 'w') as f:
        f.write(table + '\n')
    with open(osp.join(work_dir, 'results.json'), 'w') as f:
        json.dump(
            dict(
                knn=results,
                collapse_signals=signals,
                checkpoints=checkpoints,
                seconds=timings),
            f,
            indent=2)
    print('\n' + table)
    print(f'\ncheckpoints: {checkpoints}')
    print(f'pictures: {pictures}/*.png')
    print('time per step (s): ' + ', '.join(f'{k} {v:.0f}'
                                            for k, v in timings.items()))
    return results


def collapse_signals(runs, work_dir):
    """Each run's final teacher entropy and batch entropy over ln K."""
    import math

    from mmengine.config import Config

    from mst_mm.evaluation import final_run_signals
    out = {}
    for name, config, sub in runs:
        log_k = math.log(
            Config.fromfile(osp.join(REPO, config)).model.head.out_channels)
        found = final_run_signals(osp.join(work_dir, sub))
        out[name] = dict(
            entropy=found['teacher_entropy'] / log_k,
            batch_entropy=found['teacher_batch_entropy'] / log_k)
    return out


if __name__ == '__main__':
    main()
