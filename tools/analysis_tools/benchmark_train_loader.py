#!/usr/bin/env python
"""Time end-to-end training on a folder of images against training on
cached samples: is the input pipeline or the model the limit?

Runs ``tools/train.py`` (a subprocess each, the entry point users run) on
CONFIG with its train dataset replaced by the images in DIR (the config's
train pipeline unchanged), for ``--warmup`` + ``--iters`` iterations of one
epoch, in two modes, alternating ``--rounds`` times:

- ``real``: the images in DIR through the pipeline, by the loader's workers;
- ``synthetic``: the same dataset wrapped in ``CachedSampleDataset``: the
  pipeline's results for the first ``--batch`` images, cached and copied, so
  loading costs almost nothing and everything after it is the same.

Images/s of each mode come from the runner's per-iteration ``time`` (data
loading included) after the warm-up iterations; ``data_time`` is the wait
for the batch (plus the logging between iterations, the same in both
modes). real / synthetic >= 0.90 means the model, not the loader, limits
training (the target on a GPU). The batches that the workers queue up while
a run starts (``workers x prefetch_factor``) hide a slow loader for a
while: keep ``--iters`` well above that (the tool warns below 10 times).
Checkpoints, validation and online k-NN are off; the runs' work dirs are a
temporary folder unless ``--work-dir`` is given::

    python tools/analysis_tools/benchmark_train_loader.py \\
        configs/pretrain/mst_deit-s_300e.py data/imagenet/val \\
        --batch 128 --workers 10 --iters 200 --rounds 2 --out loader.json
"""
import argparse
import copy
import glob
import math
import os
import os.path as osp
import shutil
import subprocess
import sys
import tempfile

import torch

from mst_mm.utils.benchmarking import (device_label, image_files,
                                       optim_wrapper_for, write_results)
from mst_mm.utils.tool_args import add_cfg_options, load_config
from mst_mm.visualization.curves import read_scalars

MODES = ('real', 'synthetic')
TRAIN_SCRIPT = osp.join(osp.dirname(osp.abspath(__file__)), '..', 'train.py')
# Custom hooks that evaluate or draw rather than train.
SKIPPED_HOOKS = ('OnlineKNNHook', 'MSTVisualizationHook')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='a pre-training config')
    parser.add_argument('images', metavar='DIR', help='a folder of images')
    parser.add_argument(
        '--batch',
        type=int,
        help='images per iteration (default: the '
        "config's train_dataloader.batch_size)")
    parser.add_argument(
        '--workers',
        type=int,
        help="loader workers (default: the config's "
        'train_dataloader.num_workers)')
    parser.add_argument(
        '--iters', type=int, default=200, help='timed iterations per run')
    parser.add_argument(
        '--warmup',
        type=int,
        help='untimed first iterations per run '
        '(default: workers + 2: every worker starts up and fills its '
        'first prefetched batches)')
    parser.add_argument(
        '--rounds', type=int, default=3, help='runs per mode, alternating')
    parser.add_argument(
        '--work-dir',
        help="keep the runs' work dirs here (an empty or new "
        'folder; default: a temporary folder, removed)')
    parser.add_argument('--out', help='write the results as JSON here')
    add_cfg_options(parser)
    args = parser.parse_args(argv)
    for name in ('batch', 'iters', 'rounds'):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f'--{name} {value}: must be >= 1')
    for name in ('workers', 'warmup'):
        value = getattr(args, name)
        if value is not None and value < 0:
            parser.error(f'--{name} {value}: must be >= 0')
    if not osp.isdir(args.images):
        parser.error(f'{args.images}: not a directory')
    if args.work_dir and osp.exists(args.work_dir) and os.listdir(
            args.work_dir):
        parser.error(f'--work-dir {args.work_dir}: not empty; give a new or '
                     'empty folder (nothing in it is overwritten)')
    return args


def benchmark_configs(cfg, folder: str, num_images: int, args) -> dict:
    """The two modes' configs: ``cfg`` training one epoch of
    ``warmup + iters`` iterations (or a few more when the folder is repeated)
    on the images in ``folder``, logging every iteration unsmoothed, without
    checkpoints, validation or evaluation hooks."""
    loader = cfg.train_dataloader
    if not loader.dataset.get('pipeline'):
        raise KeyError(
            f'{args.config}: train_dataloader.dataset has no pipeline (a '
            f'{loader.dataset.get("type")!r}); the benchmark runs the train '
            "dataset's own pipeline on DIR")
    loader.batch_size = args.batch
    loader.num_workers = args.workers
    if args.workers == 0:  # PyTorch refuses persistent workers without any
        loader.persistent_workers = False
    needed = (args.warmup + args.iters) * args.batch
    images = dict(
        type='CustomDataset',
        data_root=osp.abspath(folder),
        with_label=False,
        indices=min(num_images, needed),
        pipeline=loader.dataset.pipeline)
    # A small folder is repeated until one epoch has the iterations needed.
    real = dict(
        type='RepeatDataset',
        times=math.ceil(needed / num_images),
        dataset=images)
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1)
    for key in ('val_cfg', 'val_dataloader', 'val_evaluator', 'test_cfg',
                'test_dataloader', 'test_evaluator'):
        cfg.pop(key, None)
    cfg.default_hooks.checkpoint = None
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.log_processor = dict(cfg.get('log_processor', {}), window_size=1)
    cfg.custom_hooks = [
        h for h in cfg.get('custom_hooks', [])
        if h['type'] not in SKIPPED_HOOKS
    ]
    optim_wrapper_for(cfg.optim_wrapper,
                      'cuda' if torch.cuda.is_available() else 'cpu')
    configs = {}
    for mode in MODES:
        configs[mode] = copy.deepcopy(cfg)
        configs[mode].train_dataloader.dataset = real if mode == 'real' else \
            dict(type='CachedSampleDataset', dataset=real,
                 num_cached=args.batch)
    return configs


def train(config_file: str, work_dir: str) -> None:
    """``tools/train.py CONFIG --work-dir WORK_DIR`` in a subprocess.

    Raises:
        RuntimeError: it failed (with the end of its output).
    """
    proc = subprocess.run(
        [sys.executable, TRAIN_SCRIPT, config_file, '--work-dir', work_dir],
        capture_output=True,
        text=True)
    if proc.returncode != 0:
        raise RuntimeError(
            f'tools/train.py {config_file} failed (exit code '
            f'{proc.returncode}):\n{(proc.stdout + proc.stderr)[-3000:]}')


def read_iterations(work_dir: str, warmup: int, iters: int) -> dict:
    """Seconds per iteration (``time``, loading included) and the time
    spent waiting for data (``data_time``) of iterations ``warmup + 1`` to
    ``warmup + iters``, from the run's ``vis_data/scalars.json``."""
    files = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    if len(files) != 1:
        raise FileNotFoundError(
            f'{work_dir}: expected one */vis_data/scalars.json, found '
            f'{len(files)}')
    records = read_scalars(files[0])
    timed = [
        r for r in records
        if 'time' in r and warmup < r['step'] <= warmup + iters
    ]
    if len(timed) != iters:
        raise RuntimeError(
            f'{files[0]}: {len(timed)} timed iterations logged, expected '
            f'{iters} (iterations {warmup + 1} to {warmup + iters})')
    return dict(
        time=[r['time'] for r in timed],
        data_time=[r['data_time'] for r in timed])


def summarise(runs: list, batch: int) -> dict:
    """Images/s over all timed iterations of a mode's runs, per run, and
    the mean ``data_time``."""
    times = [t for run in runs for t in run['time']]
    data_times = [t for run in runs for t in run['data_time']]
    return dict(
        images_per_s=batch * len(times) / sum(times),
        images_per_s_per_round=[
            batch * len(run['time']) / sum(run['time']) for run in runs
        ],
        data_time_s=sum(data_times) / len(data_times),
        iteration_s=sum(times) / len(times))


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    num_images = len(image_files(args.images))
    loader = cfg.train_dataloader
    args.batch = args.batch or loader.batch_size
    args.workers = (
        loader.get('num_workers', 0) if args.workers is None else args.workers)
    if args.warmup is None:
        args.warmup = args.workers + 2
    queued = args.workers * (loader.get('prefetch_factor') or 2)
    configs = benchmark_configs(cfg, args.images, num_images, args)

    root = args.work_dir or tempfile.mkdtemp(prefix='benchmark_train_loader_')
    runs = {mode: [] for mode in MODES}
    try:
        os.makedirs(root, exist_ok=True)
        for mode, mode_cfg in configs.items():
            mode_cfg.dump(osp.join(root, f'{mode}.py'))
        for r in range(args.rounds):
            for mode in MODES:
                work_dir = osp.join(root, f'{mode}_{r + 1}')
                print(f'round {r + 1}/{args.rounds}: {mode}', flush=True)
                train(osp.join(root, f'{mode}.py'), work_dir)
                runs[mode].append(
                    read_iterations(work_dir, args.warmup, args.iters))
    finally:
        if not args.work_dir:
            shutil.rmtree(root, ignore_errors=True)

    results = {mode: summarise(runs[mode], args.batch) for mode in MODES}
    ratio = (
        results['real']['images_per_s'] / results['synthetic']['images_per_s'])
    device = device_label('cuda' if torch.cuda.is_available() else 'cpu')
    print(f'\ntraining, {args.config}, on {device}\n{num_images} images in '
          f'{args.images}, batch {args.batch}, {args.workers} workers, '
          f'{args.rounds} alternating rounds of {args.iters} iterations '
          f'after {args.warmup}\n')
    print(f'{"mode":<11}{"images/s":>10}{"data_time ms":>14}')
    for mode, r in results.items():
        print(f'{mode:<11}{r["images_per_s"]:>10.2f}'
              f'{1000 * r["data_time_s"]:>14.1f}')
    print(f'\nreal / synthetic = {ratio:.3f} (target >= 0.90 on a GPU)')
    if args.iters < 10 * queued:
        print(f'note: the workers queue up to {queued} batches before the '
              f'timed iterations; with --iters {args.iters} (< 10 x '
              f'{queued}) that can hide part of a slow loader')
    results['real_over_synthetic'] = ratio
    write_results(
        args.out, args, device=device, num_images=num_images, results=results)
    return results


if __name__ == '__main__':
    main()
