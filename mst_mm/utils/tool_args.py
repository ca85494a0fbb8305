"""Command-line plumbing shared by ``tools/train.py``, ``tools/test.py``,
``tools/knn_eval.py`` and ``tools/visualize_mst.py``: the config argument
with ``--cfg-options``, the launcher, the default work dir and the
checkpoint words ``random``/``none``."""
import argparse
import os
import os.path as osp
from typing import Optional

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')
# A checkpoint argument that names no file: an untrained model, initialised
# as its config says ("none" reads better with --features raw-pixels).
NO_CHECKPOINT = ('random', 'none')
CFG_OPTIONS_HELP = (
    'override some settings in the used config, the key-value pair in '
    'xxx=yyy format will be merged into config file. If the value to be '
    'overwritten is a list, it should be like key="[a,b]" or key=a,b It also '
    'allows nested list/tuple values, e.g. key="[(a,b),(c,d)]" Note that the '
    'quotation marks are necessary and that no white space is allowed.')


def add_cfg_options(parser: argparse.ArgumentParser) -> None:
    """``--cfg-options KEY=VALUE ...`` (mmengine's ``DictAction``)."""
    from mmengine.config import DictAction
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, help=CFG_OPTIONS_HELP)


def add_launcher(parser: argparse.ArgumentParser) -> None:
    """``--launcher`` and the ``--local-rank`` that torchrun's older
    launchers pass (``--local_rank``); see :func:`set_local_rank`."""
    parser.add_argument(
        '--launcher', choices=LAUNCHERS, default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def set_local_rank(args: argparse.Namespace) -> argparse.Namespace:
    """Export ``--local-rank`` as ``LOCAL_RANK`` unless the launcher already
    set it (torchrun does); returns ``args``."""
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def load_config(path: str, cfg_options: Optional[dict] = None):
    """The config at ``path`` with ``cfg_options`` (``--cfg-options``)
    merged in.

    Raises:
        FileNotFoundError: ``path`` is not a file (named in the message).
    """
    from mmengine.config import Config
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file {path!r} does not exist')
    cfg = Config.fromfile(path)
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    return cfg


def default_work_dir(config: str) -> str:
    """``work_dirs/<config file name without .py>``."""
    return osp.join('work_dirs', osp.splitext(osp.basename(config))[0])


def set_work_dir(cfg, work_dir: Optional[str], config: str) -> str:
    """``cfg.work_dir``: ``--work-dir`` if given, else the config's own,
    else :func:`default_work_dir`; returns it."""
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = default_work_dir(config)
    return cfg.work_dir


def is_trained(checkpoint: str, untrained: str = 'model') -> bool:
    """Whether the checkpoint argument names a file (True) or one of the
    words :data:`NO_CHECKPOINT` (False).

    Args:
        checkpoint (str): The tool's checkpoint argument.
        untrained (str): What the words give, for the message, e.g.
            ``'backbone'``.

    Raises:
        FileNotFoundError: neither a word nor an existing file.
    """
    if checkpoint in NO_CHECKPOINT:
        return False
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(
            f'checkpoint {checkpoint!r} does not exist (use "random" for an '
            f'untrained {untrained})')
    return True


def init_distributed(cfg, launcher: str) -> None:
    """Start the process group for a tool that builds no runner, with the
    config's ``env_cfg.dist_cfg`` as the runner would use it: mmengine's
    ``init_dist`` with CUDA, a gloo group on a CPU machine (mmengine's needs
    CUDA). Nothing for ``launcher='none'``."""
    if launcher == 'none':
        return
    import torch
    from mmengine.dist import init_dist

    from .launcher import init_cpu_process_group
    dist_cfg = dict(cfg.get('env_cfg', {}).get('dist_cfg', None) or {})
    backend = dist_cfg.pop('backend', 'nccl')
    if torch.cuda.is_available():
        init_dist(launcher, backend=backend, **dist_cfg)
    else:
        init_cpu_process_group(launcher,
                               'gloo' if backend == 'nccl' else backend,
                               **dist_cfg)
