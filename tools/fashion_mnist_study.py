#!/usr/bin/env python
"""The small-scale study: do MST's claims hold on real data, beyond seeds?

On Fashion-MNIST (the demo's split and recipe,
``configs/pretrain/mst_vit-tiny-p4_fashion-mnist.py``) it pre-trains, for
every seed:

- ``MST``: attention-guided mask (num=8, p=0.1) + decoder + distillation;
- ``DINO``: the baseline (no mask, no decoder; the head with BN, as MST's);
- Table 4 at the same p (the paper: "all methods mask with the same
  probability p"): ``no mask`` and ``random mask`` (Eq. 3 at MST's p), the
  attention-guided row being ``MST`` itself;
- ``pure MLM``: Table 10's row 1 (random mask p=0.15, BERT replacement,
  masked tokens restored, lambda1 = 0);

then scores each teacher backbone with weighted k-NN (T=0.07) and a linear
probe on frozen features (:func:`mst_mm.evaluation.linear_probe_accuracy`),
next to a randomly initialised backbone (per seed) and raw pixels. Each run
also reports its collapse signals at the end of training (teacher entropy
and batch entropy as fractions of ln K).

Writes ``<work-dir>/results.json``, ``results.md`` (mean +- std over the
seeds) and ``results.png``. Resumable: a finished run (its ``result.json``)
is skipped, an interrupted one continues from its last checkpoint.

    python tools/fashion_mnist_study.py                      # 5 x 3 runs
    python tools/fashion_mnist_study.py --seeds 0 --variants MST DINO
"""
import argparse
import json
import math
import os
import os.path as osp
import sys
import time

import numpy as np
from mmengine.config import Config, DictAction

from mst_mm.utils.tool_steps import add_fashion_mnist_args
from mst_mm.utils.tool_steps import data_root_options as data_options
from mst_mm.utils.tool_steps import fashion_mnist_folder, run_step

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
MST_CONFIG = osp.join(REPO,
                      'configs/pretrain/mst_vit-tiny-p4_fashion-mnist.py')
DINO_CONFIG = osp.join(REPO,
                       'configs/pretrain/dino_vit-tiny-p4_fashion-mnist.py')


def _no_mask(cfg):
    cfg.model.masker = None


def _random_mask(cfg):
    cfg.model.masker = dict(type='RandomMasker', p=cfg.model.masker.p)


def _pure_mlm(cfg):
    cfg.model.backbone.mask_replacement = 'bert'
    cfg.model.masker = dict(type='RandomMasker', p=0.15)
    cfg.model.restore_masked_only = True
    cfg.model.distill_weight = 0.


# name -> (config file, change applied to the loaded config)
VARIANTS = {
    'MST': (MST_CONFIG, None),
    'DINO': (DINO_CONFIG, None),
    'no mask': (MST_CONFIG, _no_mask),
    'random mask': (MST_CONFIG, _random_mask),
    'pure MLM': (MST_CONFIG, _pure_mlm),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/study')
    parser.add_argument(
        '--variants',
        nargs='+',
        default=list(VARIANTS),
        choices=list(VARIANTS),
        metavar='NAME',
        help=f'any of {list(VARIANTS)}')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    add_fashion_mnist_args(parser)
    parser.add_argument(
        '--data-dir',
        help='where the image folder is written (default: '
        'data/fashion_mnist_<train>_<test> in the repository)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        default={},
        help='changes to every run\'s config, evaluation included (e.g. '
        'train_cfg.max_epochs=2)')
    return parser.parse_args(argv)


def run(cmd, what):
    """Run a step of the study, streaming its output (progress bars)."""
    return run_step(cmd, what, REPO, 'study',
                    'Run the same command again to resume.')


def variant_config(name, seed, run_dir, data, cfg_options):
    """Write the config of one run (variant, seed, data, options) into its
    folder and return its path; training and evaluation both read it."""
    config, change = VARIANTS[name]
    cfg = Config.fromfile(config)
    if change is not None:
        change(cfg)
    cfg.randomness = dict(seed=seed, diff_rank_seed=True)
    cfg.merge_from_dict(dict(o.split('=', 1) for o in data_options(data)))
    cfg.merge_from_dict(cfg_options)
    path = osp.join(run_dir, 'study_config.py')
    os.makedirs(run_dir, exist_ok=True)
    cfg.dump(path)
    return path


def evaluate(config, checkpoint, features='backbone'):
    """k-NN and linear-probe top-1 of one backbone: the teacher of
    ``checkpoint``, a seeded random one (``'random'``), or the raw pixels
    (``features='raw-pixels'``)."""
    import torch
    from mmengine.registry import init_default_scope
    from mmengine.runner import set_random_seed
    from mmpretrain.registry import MODELS

    from mst_mm.evaluation import (build_knn_dataloaders, extract_features,
                                   knn_accuracy, knn_backbone, knn_settings,
                                   linear_probe_accuracy,
                                   weighted_knn_classify)
    from mst_mm.utils import init_weights_quietly, load_checkpoint_checked
    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    set_random_seed(cfg.randomness.seed)  # a seeded random backbone
    model = MODELS.build(cfg.model)
    if checkpoint == 'random':
        init_weights_quietly(model)
    elif checkpoint != 'none':
        load_checkpoint_checked(
            model, checkpoint, what=f'the model of {config}')
    model.eval()
    backbone = None if features == 'raw-pixels' else knn_backbone(model)
    ks, temperature = knn_settings(cfg.knn_evaluation, source=config)
    train_loader, val_loader = build_knn_dataloaders(cfg.knn_evaluation,
                                                     config)
    device = torch.device('cpu')
    train_x, train_y = extract_features(
        model, backbone, train_loader, device, features, progress=False)
    val_x, val_y = extract_features(
        model, backbone, val_loader, device, features, progress=False)
    num_classes = int(max(train_y.max(), val_y.max())) + 1
    scores = weighted_knn_classify(
        train_x, train_y, val_x, num_classes, ks=ks, temperature=temperature)
    top1 = knn_accuracy(scores, val_y)
    result = {f'knn_k{k}': top1[f'k{k}_top1'] for k in ks}
    result['linear'] = linear_probe_accuracy(train_x, train_y, val_x, val_y,
                                             num_classes)
    return result


def train_and_evaluate(name, seed, args, data):
    """One (variant, seed) run; skipped when its result is there."""
    from mst_mm.evaluation import final_run_signals
    run_dir = osp.join(args.work_dir, name.replace(' ', '_'), f'seed{seed}')
    result_file = osp.join(run_dir, 'result.json')
    if osp.isfile(result_file):
        with open(result_file) as f:
            return json.load(f)
    config = variant_config(name, seed, run_dir, data, args.cfg_options)
    cmd = [sys.executable, 'tools/train.py', config, '--work-dir', run_dir]
    if osp.isfile(osp.join(run_dir, 'last_checkpoint')):
        cmd.append('--resume')  # an interrupted run continues
    seconds = run(cmd, f'{name}, seed {seed}: pre-training')
    with open(osp.join(run_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    result = dict(
        variant=name,
        seed=seed,
        checkpoint=checkpoint,
        train_seconds=seconds,
        **evaluate(config, checkpoint),
        **final_run_signals(run_dir))
    result['ln_K'] = math.log(Config.fromfile(config).model.head.out_channels)
    with open(result_file, 'w') as f:
        json.dump(result, f, indent=2)
    return result


def reference_rows(args, data):
    """Random-init backbones (one per seed) and raw pixels."""
    rows = []
    for seed in args.seeds + [None]:  # None: raw pixels, once
        name = 'random init' if seed is not None else 'raw pixels'
        run_dir = osp.join(args.work_dir, name.replace(' ', '_'),
                           f'seed{seed}' if seed is not None else '')
        path = osp.join(run_dir, 'result.json')
        if not osp.isfile(path):
            config = variant_config('MST', seed or 0, run_dir, data,
                                    args.cfg_options)
            result = evaluate(config, 'random') if seed is not None else \
                evaluate(config, 'none', features='raw-pixels')
            with open(path, 'w') as f:
                json.dump(dict(variant=name, seed=seed, **result), f, indent=2)
        with open(path) as f:
            rows.append(json.load(f))
    return rows


def summarise(rows):
    """variant -> {metric: (mean, std, n)} in first-seen order."""
    table = {}
    for row in rows:
        table.setdefault(row['variant'], []).append(row)
    summary = {}
    for variant, runs in table.items():
        metrics = {}
        for key in ('knn_k10', 'knn_k20', 'linear', 'teacher_entropy',
                    'teacher_batch_entropy'):
            values = [
                r[key] / (r['ln_K'] if 'entropy' in key else 1) for r in runs
                if key in r
            ]
            if values:
                metrics[key] = (float(np.mean(values)), float(np.std(values)),
                                len(values))
        summary[variant] = metrics
    return summary


def write_table(summary, path):

    def cell(m, key, scale=1., digits=1):
        if key not in m:
            return '-'
        mean, std, n = m[key]
        if n == 1:
            return f'{mean * scale:.{digits}f}'
        return f'{mean * scale:.{digits}f} +- {std * scale:.{digits}f}'

    lines = [
        '| features | seeds | k-NN k=10 | k-NN k=20 | linear probe | '
        'teacher H / ln K | batch H / ln K |', '| --- ' * 7 + '|'
    ]
    for variant, m in summary.items():
        n = max((v[2] for v in m.values()), default=0)
        lines.append(f'| {variant} | {n} | {cell(m, "knn_k10")} | '
                     f'{cell(m, "knn_k20")} | {cell(m, "linear")} | '
                     f'{cell(m, "teacher_entropy", digits=2)} | '
                     f'{cell(m, "teacher_batch_entropy", digits=2)} |')
    text = '\n'.join(lines)
    with open(path, 'w') as f:
        f.write(text + '\n')
    return text


def plot(summary, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    names = list(summary)
    fig, ax = plt.subplots(figsize=(1.4 * len(names) + 2, 3.6))
    x = np.arange(len(names))
    for offset, key, label in ((-0.2, 'knn_k20', 'k-NN (k=20)'),
                               (0.2, 'linear', 'linear probe')):
        means = [summary[n].get(key, (np.nan, 0, 0))[0] for n in names]
        stds = [summary[n].get(key, (np.nan, 0, 0))[1] for n in names]
        ax.bar(x + offset, means, 0.4, yerr=stds, capsize=3, label=label)
    ax.set_xticks(x, names, rotation=20)
    ax.set_ylabel('top-1 (%)')
    finite = [
        summary[n][k][0] for n in names for k in ('knn_k20', 'linear')
        if k in summary[n]
    ]
    ax.set_ylim(max(0, min(finite) - 10), min(100, max(finite) + 5))
    ax.set_title('Fashion-MNIST test split, teacher backbone (mean +- std)')
    ax.legend(loc='lower right')
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    args.work_dir = osp.abspath(args.work_dir)
    data, _ = fashion_mnist_folder(
        args, REPO, 'study', run,
        osp.abspath(args.data_dir) if args.data_dir else None)
    start = time.time()
    rows = []
    for seed in args.seeds:  # seed-major: every variant has a result early
        for name in args.variants:
            rows.append(train_and_evaluate(name, seed, args, data))
    rows += reference_rows(args, data)
    summary = summarise(rows)
    table = write_table(summary, osp.join(args.work_dir, 'results.md'))
    with open(osp.join(args.work_dir, 'results.json'), 'w') as f:
        json.dump(
            dict(runs=rows, summary=summary, seconds=time.time() - start),
            f,
            indent=2)
    plot(summary, osp.join(args.work_dir, 'results.png'))
    print('\n' + table)
    print(f'\n{args.work_dir}/results.{{md,json,png}}; '
          f'{time.time() - start:.0f} s this call')
    return summary


if __name__ == '__main__':
    main()
