from typing import Optional

import torch
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class PerParameterGradClipHook(Hook):
    """Clip each parameter's gradient to an L2 norm of ``max_norm``
    (DINO's ``clip_gradients``, 3.0, which MST follows).

    mmengine's ``optim_wrapper.clip_grad`` clips the norm of all gradients
    together; DINO rescales every parameter's gradient on its own:
    ``g <- g * min(1, max_norm / (||g|| + 1e-6))``. This runs as an
    optimizer step pre-hook, i.e. after ``AmpOptimWrapper`` has unscaled the
    gradients and right before the update.

    Follows DINO (facebookresearch/dino, main_dino.py, which calls
    ``utils.clip_gradients`` on the student before each optimizer step).

    Args:
        max_norm (float): Defaults to 3.0.
    """

    def __init__(self, max_norm: float = 3.0) -> None:
        if max_norm <= 0:
            raise ValueError(
                f'PerParameterGradClipHook: max_norm={max_norm} must be > 0')
        self.max_norm = max_norm
        self._handle: Optional[object] = None

    @torch.no_grad()
    def clip(self, params) -> None:
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        norms = torch._foreach_norm(grads)
        scales = [(self.max_norm / (n + 1e-6)).clamp_(max=1.) for n in norms]
        torch._foreach_mul_(grads, scales)

    def before_train(self, runner) -> None:
        optimizer = runner.optim_wrapper.optimizer

        def clip_grads(optimizer, args, kwargs):
            for group in optimizer.param_groups:
                self.clip(group['params'])

        self._handle = optimizer.register_step_pre_hook(clip_grads)

    def after_train(self, runner) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
