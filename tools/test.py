#!/usr/bin/env python
"""Test (evaluate) a checkpoint with any config of this project.

Prints the metrics of the config's ``test_evaluator`` (top-1/top-5 for
mmpretrain, COCO mAP for mmdet, mIoU for mmseg). The config's
``default_scope`` decides which toolbox builds it. Flags follow mmpretrain's
and mmdet's ``tools/test.py``.
"""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.evaluator import DumpResults
from mmengine.runner import Runner

import mst_mm  # noqa: F401  (registers MST components, checkpoint loading)
from mst_mm.engine.hooks import register_checkpoint_checks
from mst_mm.utils import finish_distributed, set_launcher

# The visualization hook of each toolbox and how it is told to draw to a dir.
SHOW_HOOKS = {
    'mmpretrain': ('VisualizationHook', 'out_dir'),
    'mmdet': ('DetVisualizationHook', 'test_out_dir'),
    'mmseg': ('SegVisualizationHook', None),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir',
        help='the directory to save the file containing evaluation metrics')
    parser.add_argument(
        '--out',
        help='dump the raw predictions to this pickle file (.pkl)')
    parser.add_argument(
        '--show-dir',
        help='directory (relative to the timestamped work dir) where the '
        'painted predictions are saved')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file.')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def enable_show_dir(cfg, show_dir):
    """Switch on the scope's visualization hook and point it at show_dir."""
    scope = cfg.get('default_scope', 'mmpretrain')
    if scope not in SHOW_HOOKS:
        raise ValueError(f'--show-dir: unsupported default_scope {scope!r} '
                         f'in the config; expected one of {list(SHOW_HOOKS)}')
    hook_type, dir_key = SHOW_HOOKS[scope]
    hooks = cfg.setdefault('default_hooks', {})
    hook = hooks.get('visualization', None) or dict(type=hook_type)
    hook['enable' if scope == 'mmpretrain' else 'draw'] = True
    if dir_key is not None:
        hook[dir_key] = show_dir
    else:
        # SegVisualizationHook draws into the visualizer's save_dir.
        cfg.visualizer['save_dir'] = show_dir
    hooks['visualization'] = hook


def main(argv=None):
    args = parse_args(argv)
    for path, what in ((args.config, 'config'), (args.checkpoint,
                                                  'checkpoint')):
        if not osp.isfile(path):
            raise FileNotFoundError(f'{what} file {path!r} does not exist')
    if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
        raise ValueError(f'--out {args.out!r}: expected a .pkl file')

    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    set_launcher(cfg, args.launcher)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    if args.show_dir is not None:
        enable_show_dir(cfg, args.show_dir)

    runner = Runner.from_cfg(cfg)
    # The checkpoint must fit the config's model: evaluating a partly random
    # model would report its accuracy as the checkpoint's.
    register_checkpoint_checks(runner)
    if args.out is not None:
        runner.test_evaluator.metrics.append(
            DumpResults(out_file_path=args.out))
    metrics = runner.test()
    finish_distributed()
    return metrics


if __name__ == '__main__':
    main()
