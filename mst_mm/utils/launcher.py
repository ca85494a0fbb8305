import torch


def set_launcher(cfg, launcher: str) -> None:
    """Set ``cfg.launcher``; on a machine without CUDA switch the process
    group from NCCL (the toolboxes' default) to gloo, so that
    ``tools/dist_train.sh CONFIG 2`` also runs on a laptop's CPU."""
    cfg.launcher = launcher
    if launcher == 'none' or torch.cuda.is_available():
        return
    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = env_cfg.setdefault('dist_cfg', {})
    if dist_cfg.get('backend', 'nccl') == 'nccl':
        dist_cfg['backend'] = 'gloo'
