from typing import Iterable, Optional, Union

import torch
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS


@torch.no_grad()
def clip_grad_per_parameter(params: Iterable[torch.Tensor],
                            max_norm: Union[float, torch.Tensor]) -> None:
    """Rescale each parameter's gradient on its own, in place:
    ``g <- g * min(1, max_norm / (||g|| + 1e-6))`` (DINO's
    ``clip_gradients``). Parameters without a gradient are skipped."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    norms = torch._foreach_norm(grads)
    scales = [(max_norm / (n + 1e-6)).clamp_(max=1.) for n in norms]
    torch._foreach_mul_(grads, scales)


def register_per_parameter_clipping(optimizer: torch.optim.Optimizer,
                                    max_norm: float):
    """Clip every parameter's gradient (:func:`clip_grad_per_parameter`)
    right before each ``optimizer.step()``, i.e. after ``AmpOptimWrapper``
    has unscaled the gradients, or, for an optimizer that unscales in its
    own kernel (``fused=True``), in the gradients' scale.

    Returns:
        The hook's handle; ``handle.remove()`` stops the clipping.
    """
    if max_norm <= 0:
        raise ValueError(f'per-parameter gradient clipping: max_norm='
                         f'{max_norm} must be > 0')

    def clip_grads(optimizer, args, kwargs):
        # An optimizer that unscales inside its own kernel (fused AdamW under
        # a GradScaler, also AmpOptimWrapper's bf16 one) still holds the
        # scaled gradients here: GradScaler skips unscale_ and hands it the
        # scale as `grad_scale`. Clipping commutes with the scale, so clip
        # the scaled gradients to max_norm * scale.
        scale = getattr(optimizer, 'grad_scale', None)
        limit = max_norm if scale is None else max_norm * scale
        for group in optimizer.param_groups:
            clip_grad_per_parameter(group['params'], limit)

    return optimizer.register_step_pre_hook(clip_grads)


@HOOKS.register_module()
class PerParameterGradClipHook(Hook):
    """Clip each parameter's gradient to an L2 norm of ``max_norm``
    (DINO's ``clip_gradients``, 3.0, which MST follows).

    mmengine's ``optim_wrapper.clip_grad`` clips the norm of all gradients
    together; DINO rescales every parameter's gradient on its own (see
    :func:`clip_grad_per_parameter`). This runs as an optimizer step
    pre-hook (:func:`register_per_parameter_clipping`), i.e. after
    ``AmpOptimWrapper`` has unscaled the gradients and right before the
    update; code without a runner (tools/benchmark.py) registers it
    directly.

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

    def before_train(self, runner) -> None:
        self._handle = register_per_parameter_clipping(
            runner.optim_wrapper.optimizer, self.max_norm)

    def after_train(self, runner) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
