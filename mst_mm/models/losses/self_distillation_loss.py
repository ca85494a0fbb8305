from typing import Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dist import all_reduce
from mmpretrain.registry import MODELS


@MODELS.register_module()
class SelfDistillationLoss(nn.Module):
    r"""DINO's self-distillation cross-entropy, MST's Eq. 2.

    .. math::

        L_{CE} = \frac{1}{2 (V - 1)} \sum_{i \in \{1, 2\}}
                 \sum_{j \ne i}^{V} - P_t(x_i) \cdot \log P_s(x_j)

    with :math:`P_s(x) = \mathrm{softmax}(f_s(x) / \tau_s)` and the
    centred, sharpened teacher
    :math:`P_t(x) = \mathrm{softmax}((f_t(x) - c) / \tau_t)`, where the
    teacher temperature warms up linearly from ``warmup_teacher_temp`` to
    ``teacher_temp`` over the first ``warmup_teacher_temp_epochs`` epochs
    (per epoch, as DINO's ``np.linspace``) and the center follows
    :math:`c \leftarrow m c + (1 - m) \overline{f_t}`, the batch mean of
    the teacher's raw outputs on both global views averaged over all
    processes. The center is a buffer, so it is checkpointed and resumed.

    Follows DINO (facebookresearch/dino, main_dino.py, ``DINOLoss``): the
    same pairs, temperature schedule and center update;
    tests/test_models/test_self_distillation_loss.py checks it against
    DINOLoss's arithmetic.

    Args:
        out_channels (int): K, the head's output dimension.
        num_global_views (int): Teacher views. Defaults to 2.
        student_temp (float): :math:`\tau_s`. Defaults to 0.1.
        teacher_temp (float): :math:`\tau_t` after warm-up. Defaults to 0.07.
        warmup_teacher_temp (float): :math:`\tau_t` at epoch 0.
            Defaults to 0.04.
        warmup_teacher_temp_epochs (int): Defaults to 30.
        center_momentum (float): m. Defaults to 0.9.
    """

    def __init__(self,
                 out_channels: int,
                 num_global_views: int = 2,
                 student_temp: float = 0.1,
                 teacher_temp: float = 0.07,
                 warmup_teacher_temp: float = 0.04,
                 warmup_teacher_temp_epochs: int = 30,
                 center_momentum: float = 0.9) -> None:
        super().__init__()
        for name, value in (('student_temp', student_temp), ('teacher_temp',
                                                             teacher_temp),
                            ('warmup_teacher_temp', warmup_teacher_temp)):
            if value <= 0:
                raise ValueError(
                    f'SelfDistillationLoss: {name}={value} must be > 0')
        if not 0. <= center_momentum <= 1.:
            raise ValueError(f'SelfDistillationLoss: center_momentum='
                             f'{center_momentum} must be in [0, 1]')
        self.out_channels = out_channels
        self.num_global_views = num_global_views
        self.student_temp = student_temp
        self.teacher_temp = teacher_temp
        self.warmup_teacher_temp = warmup_teacher_temp
        self.warmup_teacher_temp_epochs = int(warmup_teacher_temp_epochs)
        self.center_momentum = center_momentum
        self.register_buffer('center', torch.zeros(1, out_channels))

    def teacher_temp_at(self, epoch: int) -> float:
        """:math:`\\tau_t` of ``epoch`` (0-based)."""
        warmup = self.warmup_teacher_temp_epochs
        if epoch < warmup:
            return float(
                np.linspace(self.warmup_teacher_temp, self.teacher_temp,
                            warmup)[epoch])
        return float(self.teacher_temp)

    def teacher_probs(self, teacher_out: torch.Tensor,
                      epoch: int) -> torch.Tensor:
        """:math:`P_t`: (2B, K) -> (2B, K), centred and sharpened."""
        temp = self.teacher_temp_at(epoch)
        return F.softmax((teacher_out.float() - self.center) / temp, dim=-1)

    def forward(self,
                student_out: torch.Tensor,
                teacher_out: torch.Tensor,
                epoch: int,
                update_center: bool = True) -> torch.Tensor:
        """Eq. 2, then the center update.

        Args:
            student_out (Tensor): (V * B, K) student outputs of all views,
                view-major: the global views first, in the teacher's order.
            teacher_out (Tensor): (G * B, K) teacher outputs of the G global
                views, view-major. No gradient flows into it.
            epoch (int): Current epoch (0-based), for the temperature.
            update_center (bool): Update the center afterwards.

        Returns:
            Tensor: The scalar loss.
        """
        num_global = self.num_global_views
        if teacher_out.shape[0] % num_global:
            raise ValueError(
                'SelfDistillationLoss: teacher output of '
                f'{teacher_out.shape[0]} rows is not {num_global} views of '
                'one batch')
        batch = teacher_out.shape[0] // num_global
        if student_out.shape[0] % batch or student_out.shape[0] < (num_global *
                                                                   batch):
            raise ValueError(
                f'SelfDistillationLoss: student output of '
                f'{student_out.shape[0]} rows is not a whole number (>= '
                f'{num_global}) of views of batch {batch}')
        teacher_out = teacher_out.detach()
        student_logp = F.log_softmax(
            student_out.float() / self.student_temp,
            dim=-1).chunk(student_out.shape[0] // batch)
        teacher_p = self.teacher_probs(teacher_out, epoch).chunk(num_global)

        total, terms = 0., 0
        for i, p_t in enumerate(teacher_p):
            for j, logp_s in enumerate(student_logp):
                if j == i:  # the same view seen by both networks
                    continue
                total = total + torch.sum(-p_t * logp_s, dim=-1).mean()
                terms += 1
        if terms == 0:
            raise ValueError('SelfDistillationLoss: no (teacher view, '
                             'different student view) pair; pass at least '
                             f'{num_global} student views')
        loss = total / terms
        if update_center:
            self.update_center(teacher_out)
        return loss

    @torch.no_grad()
    def update_center(self, teacher_out: torch.Tensor) -> None:
        """:math:`c \\leftarrow m c + (1 - m)\\, mean(f_t)` over all rows
        of all processes."""
        batch_center = teacher_out.float().mean(dim=0, keepdim=True)
        # The mean of the per-process means equals the global mean: every
        # process has the same batch size.
        all_reduce(batch_center, op='mean')
        self.center.mul_(self.center_momentum).add_(
            batch_center, alpha=1 - self.center_momentum)

    def extra_repr(self) -> Optional[str]:
        return (f'out_channels={self.out_channels}, student_temp='
                f'{self.student_temp}, teacher_temp={self.warmup_teacher_temp}'
                f'->{self.teacher_temp} over '
                f'{self.warmup_teacher_temp_epochs} epochs, center_momentum='
                f'{self.center_momentum}')
