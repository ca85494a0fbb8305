import datetime
import os

import torch
import torch.distributed as torch_dist

# Norm layer types that need CUDA under DDP ("SyncBatchNorm layers only work
# with GPU modules"); on a CPU launch they are built as plain BN.
SYNC_BN_TYPES = ('SyncBN', 'MMSyncBN', 'SyncBatchNorm', 'nn.SyncBatchNorm',
                 torch.nn.SyncBatchNorm)
# What they become: mmengine's batch norm for inputs of any dimension (the
# class mmengine's own revert_sync_batchnorm uses). SyncBN serves 1-d inputs
# (MST's projection head) and 2-d ones (decoders, segmentation heads), so a
# fixed BatchNorm1d/2d would break one of them; the parameter names, and so
# the checkpoint keys, stay those of SyncBN.
CPU_BN_TYPE = 'BNXd'


def _register_cpu_bn():
    from mmengine.model.utils import _BatchNormXd
    from mmengine.registry import MODELS
    if CPU_BN_TYPE not in MODELS.module_dict:
        MODELS.register_module(CPU_BN_TYPE, module=_BatchNormXd)


_register_cpu_bn()


def set_launcher(cfg, launcher: str) -> list:
    """Set ``cfg.launcher`` and make multi-process runs work without CUDA.

    mmengine 0.10.7 assumes GPUs once a launcher is given: its
    ``init_dist('pytorch')`` calls ``torch.cuda.set_device`` and its DDP
    wrapper passes ``device_ids=[LOCAL_RANK]``, both of which fail on a CPU
    machine. Without CUDA this therefore

    - switches the process group from NCCL to gloo,
    - starts it here for the ``pytorch`` launcher (torchrun's environment),
      so that the runner finds it initialised and skips ``init_dist``,
    - wraps the model in ``MMDistributedDataParallel`` with
      ``device_ids=None``, DDP's form for CPU modules,
    - builds the model's SyncBN layers as BN (:func:`sync_bn_to_bn`): DDP
      refuses SyncBN on CPU modules. Each process then normalises with its
      own batch statistics; the weights and checkpoint keys are the same.

    so that ``tools/dist_train.sh CONFIG 2`` also runs on a laptop.

    Returns:
        list[str]: what was changed for the CPU, for the tool to write into
        the run's log once the runner (and its log file) exists.
    """
    cfg.launcher = launcher
    if launcher == 'none' or torch.cuda.is_available():
        return []
    notes = []
    converted = sync_bn_to_bn(cfg.model)
    if converted:
        notes.append(
            f'no CUDA: {len(converted)} SyncBN norm layer config(s) of the '
            f'model built as BN ({", ".join(converted)}); SyncBN under DDP '
            'needs GPUs. Each process normalises with its own batch '
            'statistics; checkpoints keep the same keys.')
    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = env_cfg.setdefault('dist_cfg', {})
    if dist_cfg.get('backend', 'nccl') == 'nccl':
        dist_cfg['backend'] = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg', None) or dict(
        type='MMDistributedDataParallel',
        broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    if _is_ddp(wrapper.get('type', 'MMDistributedDataParallel')):
        wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    init_cpu_process_group(launcher, **dist_cfg)
    return notes


def sync_bn_to_bn(model_cfg, path: str = 'model') -> list:
    """Replace every SyncBN norm config in ``model_cfg`` by BN, in place.

    Walks nested dicts and lists: a dict whose ``type`` is one of
    :data:`SYNC_BN_TYPES` becomes ``type='BNXd'`` (a batch norm for inputs
    of any dimension, registered above; all other keys, ``requires_grad``
    for instance, are kept).

    Returns:
        list[str]: the dotted paths of the converted configs, e.g.
        ``model.decode_head.norm_cfg``.
    """
    converted = []
    if isinstance(model_cfg, dict):
        if model_cfg.get('type', None) in SYNC_BN_TYPES:
            model_cfg['type'] = CPU_BN_TYPE
            converted.append(path)
        for key, value in model_cfg.items():
            converted += sync_bn_to_bn(value, f'{path}.{key}')
    elif isinstance(model_cfg, (list, tuple)):
        for i, value in enumerate(model_cfg):
            converted += sync_bn_to_bn(value, f'{path}.{i}')
    return converted


def init_cpu_process_group(launcher: str,
                           backend: str = 'gloo',
                           **dist_cfg) -> None:
    """Start the process group on a CPU machine for the ``pytorch``
    launcher (``RANK``/``WORLD_SIZE``/``MASTER_*`` from torchrun).

    Args:
        backend (str): The process group backend (gloo on CPU).
        **dist_cfg: The rest of ``env_cfg.dist_cfg``, as mmengine's
            ``init_dist`` takes it: ``timeout`` in seconds (how long a
            collective waits for a stalled peer before it raises) and any
            other ``init_process_group`` argument.
    """
    if launcher != 'pytorch' or torch_dist.is_initialized():
        return
    missing = [
        k for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')
        if k not in os.environ
    ]
    if missing:
        raise RuntimeError(
            f'--launcher pytorch needs the environment torchrun sets; '
            f'{missing} are not set (start it with tools/dist_train.sh)')
    kwargs = dict(dist_cfg)
    init_backend = kwargs.pop('init_backend', 'torch')
    if init_backend != 'torch':
        raise ValueError(
            f"env_cfg.dist_cfg.init_backend={init_backend!r}: only 'torch' "
            'starts a process group on CPU')
    timeout = kwargs.get('timeout', None)
    if timeout is not None and not isinstance(timeout, datetime.timedelta):
        if isinstance(timeout,
                      bool) or not isinstance(timeout,
                                              (int, float)) or timeout <= 0:
            raise ValueError(
                f'env_cfg.dist_cfg.timeout={timeout!r}: expected a positive '
                'number of seconds')
        kwargs['timeout'] = datetime.timedelta(seconds=timeout)
    torch_dist.init_process_group(backend=backend, **kwargs)


def _is_ddp(wrapper_type) -> bool:
    """Whether a model wrapper type is DDP-based (takes ``device_ids``)."""
    from mmengine.registry import MODEL_WRAPPERS
    from torch.nn.parallel import DistributedDataParallel
    cls = MODEL_WRAPPERS.get(wrapper_type) if isinstance(wrapper_type,
                                                         str) else wrapper_type
    return isinstance(cls, type) and issubclass(cls, DistributedDataParallel)


def finish_distributed() -> None:
    """Wait for every process, then close the process group.

    Without it, a process that finishes first (rank 1, while rank 0 still
    writes the last checkpoint or scores k-NN) tears its gloo connections
    down under the others, and a peer can abort at exit with "terminate
    called without an active exception" (seen in CI on 2 CPU processes).
    """
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()
