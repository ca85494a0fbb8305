#!/usr/bin/env python
"""Test (evaluate) a checkpoint with any config of this project.

Prints the metrics of the config's ``test_evaluator`` (top-1/top-5 for
mmpretrain, COCO mAP for mmdet, mIoU for mmseg). The config's
``default_scope`` decides which toolbox builds it. Flags follow mmpretrain's,
mmdet's and mmseg's ``tools/test.py``:

- ``--out``: each toolbox's own result format, held compactly while the test
  runs: mmpretrain's predictions (a .pkl), mmdet's ``DumpDetResults`` (a .pkl
  of predictions with RLE masks, no ground truth), mmseg's per-image
  prediction PNGs (a folder; class indices as the dataset's label maps).
- ``--show-dir``: one drawn image per test image, in
  ``<work_dir>/<timestamp>/<show_dir>`` (for mmpretrain one per image file
  name: its hook names pictures after it).
- A scoring metric that returns nothing (mmdet logs "The testing results of
  the whole dataset is empty" when no detection passes the score threshold)
  ends the tool with exit status 1 and a message, not 0.
"""
import argparse
import os
import os.path as osp
import sys

from mmengine.evaluator import DumpResults
from mmengine.runner import Runner
from mmengine.utils import mkdir_or_exist

import mst_mm  # noqa: F401  (registers MST components, checkpoint loading)
from mst_mm.engine.hooks import register_checkpoint_checks
from mst_mm.utils import finish_distributed, set_launcher
from mst_mm.utils.tool_args import (add_cfg_options, add_launcher, load_config,
                                    set_local_rank, set_work_dir)

# The visualization hook of each toolbox and its folder argument. mmseg's own
# hook draws every 50th batch to the visualizer's backends; the project's
# SegTestVisualizationHook draws every image like mmdet's.
SHOW_HOOKS = {
    'mmpretrain': ('VisualizationHook', 'out_dir'),
    'mmdet': ('DetVisualizationHook', 'test_out_dir'),
    'mmseg': ('mmpretrain.SegTestVisualizationHook', 'test_out_dir'),
}
# What --out writes for each scope.
OUT_KINDS = {
    'mmpretrain': 'pkl',
    'mmdet': 'pkl',
    'mmseg': 'dir',
}
# mmseg metrics that write per-image prediction PNGs given output_dir.
SEG_PNG_METRICS = ('IoUMetric', 'CityscapesMetric')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir',
        help='the directory to save the file containing evaluation metrics')
    parser.add_argument(
        '--out',
        help='save the predictions in the toolbox\'s format: a .pkl file for '
        'mmpretrain and mmdet configs (mmdet: RLE masks, no ground truth), '
        'a folder of per-image prediction PNGs for mmseg configs')
    parser.add_argument(
        '--show-dir',
        help='directory (relative to the timestamped work dir) where the '
        'painted predictions are saved, one per test image')
    add_cfg_options(parser)
    add_launcher(parser)
    return set_local_rank(parser.parse_args(argv))


def config_scope(cfg, flag):
    """The config's default_scope, checked against the ones the tool knows."""
    scope = scope_of(cfg)
    if scope not in SHOW_HOOKS:
        raise ValueError(f'{flag}: unsupported default_scope {scope!r} '
                         f'in the config; expected one of {list(SHOW_HOOKS)}')
    return scope


def scope_of(cfg):
    return cfg.get('default_scope', 'mmpretrain')


def enable_show_dir(cfg, show_dir):
    """Switch on the scope's visualization hook and point it at show_dir."""
    scope = config_scope(cfg, '--show-dir')
    hook_type, dir_key = SHOW_HOOKS[scope]
    hooks = cfg.setdefault('default_hooks', {})
    if scope == 'mmseg':
        # Replaces mmseg's hook (same key): it would otherwise also draw
        # every 50th batch to the visualizer's backends.
        hook = dict(type=hook_type)
    else:
        hook = hooks.get('visualization', None) or dict(type=hook_type)
    hook['enable' if scope == 'mmpretrain' else 'draw'] = True
    hook[dir_key] = show_dir
    if scope == 'mmpretrain':
        hook['interval'] = 1  # its default draws every 5000th sample
        if cfg.get('visualizer', None) is None:  # mmengine's cannot draw
            cfg.visualizer = dict(type='UniversalVisualizer')
    hooks['visualization'] = hook


def place_show_dir(runner, show_dir):
    """mmpretrain's VisualizationHook takes out_dir as given (relative to
    the current directory): point it into the run's timestamped work dir,
    as mmdet's and the mmseg hook do, once the runner knows both."""
    from mmpretrain.engine.hooks import VisualizationHook
    for hook in runner.hooks:
        if isinstance(hook, VisualizationHook):
            hook.out_dir = osp.join(runner.work_dir, runner.timestamp,
                                    show_dir)


def check_out(cfg, out):
    """Validate ``--out`` for the config's toolbox before anything runs."""
    scope = config_scope(cfg, '--out')
    is_pkl = out.endswith(('.pkl', '.pickle'))
    # Never overwrite earlier results.
    if osp.isfile(out):
        raise FileExistsError(f'--out {out!r} exists; remove it or choose '
                              'another name')
    if osp.isdir(out) and os.listdir(out):
        raise FileExistsError(
            f'--out {out!r} is a folder that already holds '
            f'{len(os.listdir(out))} entries; choose a new or empty folder')
    if OUT_KINDS[scope] == 'pkl' and not is_pkl:
        raise ValueError(f'--out {out!r}: {scope} configs write a .pkl file; '
                         'expected a name ending in .pkl or .pickle')
    if OUT_KINDS[scope] == 'dir':
        if is_pkl:
            raise ValueError(
                f'--out {out!r}: mmseg configs write one prediction PNG per '
                'image into a folder (mmseg\'s format; a pickle of logits '
                'does not fit in memory for Cityscapes); expected a folder')
        metrics = cfg.test_evaluator
        metrics = metrics if isinstance(metrics, (list, tuple)) else [metrics]
        if not any(m.get('type') in SEG_PNG_METRICS for m in metrics):
            raise ValueError(
                f'--out {out!r}: the config\'s test_evaluator '
                f'{[m.get("type") for m in metrics]} has none of '
                f'{list(SEG_PNG_METRICS)}, which write the prediction PNGs')
    return scope


def enable_out(cfg, runner, scope, out):
    """Make the test write ``out`` in the toolbox's format (see the module
    docstring); called on the built runner, before ``runner.test()``."""
    if scope == 'mmpretrain':
        runner.test_evaluator.metrics.append(DumpResults(out_file_path=out))
    elif scope == 'mmdet':
        from mmdet.evaluation import DumpDetResults
        runner.test_evaluator.metrics.append(DumpDetResults(out_file_path=out))
    else:
        # Every process writes the PNGs of its own images.
        mkdir_or_exist(out)
        for metric in runner.test_evaluator.metrics:
            if type(metric).__name__ in SEG_PNG_METRICS:
                metric.output_dir = out


def check_metrics(runner, metrics):
    """Refuse a test whose scoring metric returned nothing.

    Toolboxes only log such failures (mmdet's CocoMetric: "The testing
    results of the whole dataset is empty" when no detection passes the
    score threshold) and the run would otherwise end with status 0.

    Raises:
        SystemExit: status 1, naming the silent metric(s).
    """
    silent = []
    for metric in runner.test_evaluator.metrics:
        if isinstance(metric, DumpResults) or getattr(metric, 'format_only',
                                                      False):
            continue  # writes files by design, scores nothing
        prefix = getattr(metric, 'prefix', None)
        if prefix:
            scored = any(k.startswith(f'{prefix}/') for k in metrics)
        else:
            scored = bool(metrics)
        if not scored:
            silent.append(type(metric).__name__)
    if not silent:
        return
    message = (f'tools/test.py: {", ".join(silent)} returned no metrics for '
               f'the {len(runner.test_dataloader.dataset)} test images.')
    if runner.cfg.get('default_scope') == 'mmdet':
        thr = runner.cfg.get('model', {}).get('test_cfg', {})
        thr = (thr.get('rcnn') or {}).get('score_thr', None)
        message += (
            ' mmdet logged "The testing results of the whole dataset is '
            'empty": no detection passed the score threshold '
            f'(model.test_cfg.rcnn.score_thr={thr}). The checkpoint detects '
            'nothing: an untrained model, a checkpoint of another model, or '
            'the wrong classes.')
    message += f' The log: {runner.log_dir}'
    finish_distributed()
    sys.exit(message)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(
            f'checkpoint file {args.checkpoint!r} does not exist')
    scope = check_out(cfg, args.out) if args.out is not None else None
    launcher_notes = set_launcher(cfg, args.launcher)
    set_work_dir(cfg, args.work_dir, args.config)
    cfg.load_from = args.checkpoint
    if args.show_dir is not None:
        enable_show_dir(cfg, args.show_dir)

    runner = Runner.from_cfg(cfg)
    # The checkpoint must fit the config's model: evaluating a partly random
    # model would report its accuracy as the checkpoint's.
    register_checkpoint_checks(runner)
    for note in launcher_notes:
        runner.logger.warning(note)
    if args.show_dir is not None and scope_of(cfg) == 'mmpretrain':
        place_show_dir(runner, args.show_dir)
    if args.out is not None:
        enable_out(cfg, runner, scope, args.out)
    metrics = runner.test()
    check_metrics(runner, metrics)
    finish_distributed()
    return metrics


if __name__ == '__main__':
    main()
