from math import cos, pi

import torch
import torch.nn as nn
from mmengine.logging import MessageHub
from mmpretrain.models.utils import CosineEMA
from mmpretrain.registry import MODELS


@MODELS.register_module()
class NameMatchedCosineEMA(CosineEMA):
    r"""mmpretrain's :class:`CosineEMA` whose buffers, like its parameters,
    are matched to the source model by name.

    The teacher update is MST's Eq. 1, :math:`\theta_t \leftarrow
    \lambda \theta_t + (1 - \lambda) \theta_s`, with DINO's cosine schedule
    :math:`\lambda: 0.996 \to 1`. mmengine's convention is the complement:
    ``momentum`` :math:`= 1 - \lambda`, so DINO's schedule is
    ``momentum=0.004, end_momentum=0``.

    Follows DINO (facebookresearch/dino, main_dino.py: the teacher's EMA
    update after each step of ``train_one_epoch``, its momentum from
    ``utils.cosine_scheduler``), through mmpretrain's :class:`CosineEMA`.

    Why a subclass: the student has parameters and buffers the teacher lacks
    (the [MASK] token, the decoder). mmengine matches parameters by name but
    copies buffers by position (``zip``), which silently pairs the wrong
    tensors as soon as the two models differ. Here every teacher tensor is
    looked up by its name in the student, a missing name is an error, and
    student-only tensors are never read.

    Args: as :class:`CosineEMA`.
    """

    def update_parameters(self, model: nn.Module) -> None:
        """Update the averaged model from ``model`` (the student)."""
        src = dict(model.state_dict(keep_vars=True)) if \
            self.update_buffers else dict(model.named_parameters())
        src_buffers = dict(model.named_buffers())
        missing = [k for k in self.avg_parameters if k not in src]
        if not self.update_buffers:
            missing += [
                k for k, _ in self.module.named_buffers()
                if k not in src_buffers
            ]
        if missing:
            raise KeyError(
                f'{type(self).__name__}: the student has no tensors named '
                f'{missing[:5]}{"..." if len(missing) > 5 else ""}; the '
                'teacher must be a sub-structure of the student')
        if self.steps == 0:
            for k, p_avg in self.avg_parameters.items():
                p_avg.data.copy_(src[k].data)
        elif self.steps % self.interval == 0:
            names = [
                k for k, p in self.avg_parameters.items()
                if p.dtype.is_floating_point
            ]
            avg = [self.avg_parameters[k].data for k in names]
            new = [src[k].data.to(a.device) for k, a in zip(names, avg)]
            # (1 - m) * avg + m * new for all tensors in one fused call.
            torch._foreach_lerp_(avg, new, self.momentum_at(int(self.steps)))
        if not self.update_buffers:
            for k, b_avg in self.module.named_buffers():
                b_avg.data.copy_(src_buffers[k].data.to(b_avg.device))
        self.steps += 1

    def avg_func(self, averaged_param, source_param, steps: int) -> None:
        """One tensor of :meth:`update_parameters` (kept for the API)."""
        momentum = self.momentum_at(steps)
        averaged_param.mul_(1 - momentum).add_(source_param, alpha=momentum)

    def momentum_at(self, steps: int) -> float:
        """mmengine-convention momentum (1 - lambda) after ``steps``
        updates; needs ``max_iters`` in the MessageHub like CosineEMA."""
        max_iters = MessageHub.get_current_instance().get_info('max_iters')
        if max_iters is None:
            raise RuntimeError(
                f'{type(self).__name__}: the cosine momentum schedule needs '
                "the run's length; no 'max_iters' in the MessageHub. Train "
                'through an mmengine Runner, or call '
                "MessageHub.get_current_instance().update_info('max_iters', "
                'N) first')
        cosine = (cos(pi * steps / float(max_iters)) + 1) / 2
        return self.end_momentum - (self.end_momentum - self.momentum) * cosine

    @property
    def teacher_momentum(self) -> float:
        r""":math:`\lambda` of the last update (0.996 -> 1 for DINO)."""
        return 1. - self.momentum_at(max(int(self.steps) - 1, 0))
