#!/usr/bin/env python
"""Train any config of this project: pre-training (mmpretrain scope),
detection (mmdet scope) or segmentation (mmseg scope).

The config's ``default_scope`` decides which toolbox's registry builds it.
Flags follow mmpretrain's ``tools/train.py``.
"""
import argparse
import os.path as osp

from mmengine.runner import Runner

import mst_mm  # noqa: F401  (registers MST components, checkpoint loading)
from mst_mm.engine.hooks import register_checkpoint_checks
from mst_mm.utils import finish_distributed, keep_out_of_console, set_launcher
from mst_mm.utils.tool_args import (add_cfg_options, add_launcher, load_config,
                                    set_local_rank, set_work_dir)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='If specify checkpoint path, resume from it, while if not '
        'specify, try to auto resume from the latest checkpoint '
        'in the work directory.')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='enable automatic-mixed-precision training')
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='whether not to evaluate the checkpoint during training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='whether to auto scale the learning rate according to the '
        'actual batch size and the original batch size.')
    parser.add_argument(
        '--no-pin-memory',
        action='store_true',
        help='whether to disable the pin_memory option in dataloaders.')
    parser.add_argument(
        '--no-persistent-workers',
        action='store_true',
        help='whether to disable the persistent_workers option in '
        'dataloaders.')
    add_cfg_options(parser)
    add_launcher(parser)
    return set_local_rank(parser.parse_args(argv))


def merge_args(cfg, args):
    """Merge CLI arguments into the config."""
    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None

    # What set_launcher changed for a CPU launch, logged once the runner
    # (and its log file) exists.
    args.launcher_notes = set_launcher(cfg, args.launcher)

    set_work_dir(cfg, args.work_dir, args.config)

    if args.amp:
        optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if optim_wrapper not in ('OptimWrapper', 'AmpOptimWrapper'):
            raise ValueError(
                f'--amp needs optim_wrapper.type OptimWrapper or '
                f'AmpOptimWrapper, but {args.config} sets {optim_wrapper!r}')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            raise FileNotFoundError(
                f'--resume {args.resume}: no such checkpoint file')
        cfg.resume = True
        cfg.load_from = args.resume

    if args.auto_scale_lr:
        cfg.setdefault('auto_scale_lr', {})['enable'] = True

    def set_loader_option(key, value):
        for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            loader = cfg.get(name, None)
            if loader is not None:
                loader[key] = value

    if args.no_pin_memory:
        set_loader_option('pin_memory', False)
    if args.no_persistent_workers:
        set_loader_option('persistent_workers', False)

    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def check_auto_resume(work_dir: str) -> None:
    """``--resume`` without a path resumes from what ``last_checkpoint`` in
    the work dir names; an empty file, or one naming a missing checkpoint, is
    an error here rather than mmengine's "can not be found" with an empty
    name. No ``last_checkpoint`` at all starts a fresh run (mmengine's
    behaviour, logged by the runner)."""
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        return
    with open(pointer) as f:
        target = f.read().strip()
    if not target:
        raise ValueError(
            f'--resume: {pointer} is empty; expected the path of the '
            'checkpoint to resume from (write it there, or pass --resume '
            'PATH)')
    if '://' not in target and not osp.isfile(target):
        raise FileNotFoundError(
            f'--resume: {pointer} names {target}, which does not exist; '
            'pass --resume PATH with an existing checkpoint')


def build_runner(cfg):
    if 'runner_type' in cfg:
        from mmengine.registry import RUNNERS
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def main(argv=None):
    args = parse_args(argv)
    # --cfg-options are merged last, over what the other flags set.
    cfg = merge_args(load_config(args.config), args)
    if cfg.get('resume', False) and cfg.get('load_from', None) is None:
        check_auto_resume(cfg.work_dir)
    runner = build_runner(cfg)
    # load_from / --resume must fit the model (mmengine loads non-strictly)
    register_checkpoint_checks(runner)
    for note in args.launcher_notes:
        runner.logger.warning(note)
    # The optimizer (built in runner.train()) logs one line per parameter
    # option: into the log file, not onto the console.
    keep_out_of_console(runner.logger)
    runner.train()
    finish_distributed()


if __name__ == '__main__':
    main()
