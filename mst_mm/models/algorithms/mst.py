import copy
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn
from mmengine.logging import MessageHub
from mmpretrain.models.selfsup import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from ..utils import NameMatchedCosineEMA

NUM_GLOBAL_VIEWS = 2


@MODELS.register_module()
class MST(BaseSelfSupervisor):
    """MST: Masked Self-Supervised Transformer (Li et al., NeurIPS 2021).

    `MST: Masked Self-Supervised Transformer for Visual Representation
    <https://arxiv.org/abs/2106.05656>`_. DINO's self-distillation (EMA
    teacher, multi-crop, centering and sharpening) plus, on the student, an
    attention-guided [MASK] token and a global image decoder. ``loss``
    follows the paper's Algorithm 2:

    1. The EMA teacher (backbone + head, no drop-path, no mask token) runs on
       the 2 global views; it gives their projections and the last layer's
       cls attention (Eq. 4).
    2. The masker turns view i's attention into view i's token mask
       (Eq. 5, Algorithm 1).
    3. The student runs on the 2 masked global views and the unmasked local
       views.
    4. The decoder restores both global views from the student's patch
       tokens (Eq. 9).
    5. ``loss = distill_weight * L_CE + restore_weight * L_restore`` (Eq. 11,
       lambda1 = 1.0, lambda2 = 0.6).

    With ``masker=None`` and ``neck=None`` this is DINO, the paper's baseline.

    Args:
        backbone (dict): Student backbone config, e.g. :class:`MSTViT`. The
            teacher is built from it with ``drop_path_rate=0`` and no mask
            token.
        head (dict): Projection head config (:class:`MSTHead`), shared by
            student and teacher.
        distill_loss (dict): :class:`SelfDistillationLoss` config.
        neck (dict, optional): The global image decoder
            (:class:`GlobalImageDecoder`); None disables restoration.
        restore_loss (dict): Restoration loss. Defaults to mmpretrain's
            ``PixelReconstructionLoss(criterion='L1')``: with no mask it is
            exactly Eq. 9's mean absolute error over H x W.
        masker (dict, optional): :class:`AttentionGuidedMasker` (default,
            num=8, p=0.1), :class:`RandomMasker`, or None for no mask.
        distill_weight (float): lambda1. Defaults to 1.0.
        restore_weight (float): lambda2. Defaults to 0.6.
        restore_masked_only (bool): Restore only the masked patches (BERT's
            target, a Table 10 ablation) instead of the whole image.
            Defaults to False.
        base_momentum (float): Teacher EMA momentum in mmengine's convention
            (1 - lambda): 0.004 is DINO's 0.996. Defaults to 0.004.
        end_momentum (float): The same at the end of training (cosine).
            Defaults to 0., i.e. lambda = 1.
        data_preprocessor (dict, optional): Defaults to
            ``SelfSupDataPreprocessor``.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 distill_loss: dict,
                 neck: Optional[dict] = None,
                 restore_loss: dict = dict(
                     type='PixelReconstructionLoss', criterion='L1'),
                 masker: Optional[dict] = dict(
                     type='AttentionGuidedMasker', num=8, p=0.1),
                 distill_weight: float = 1.0,
                 restore_weight: float = 0.6,
                 restore_masked_only: bool = False,
                 base_momentum: float = 0.004,
                 end_momentum: float = 0.,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        for name, cfg in (('backbone', backbone), ('head', head)):
            if not isinstance(cfg, dict):
                raise TypeError(f'MST: {name} must be a config dict (the '
                                f'teacher is built from it), got {type(cfg)}')
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)

        teacher_backbone = copy.deepcopy(backbone)
        # The teacher runs without stochastic depth and is never masked.
        teacher_backbone.update(drop_path_rate=0., with_mask_token=False)
        self.teacher = NameMatchedCosineEMA(
            nn.ModuleDict(
                dict(
                    backbone=MODELS.build(teacher_backbone),
                    head=MODELS.build(copy.deepcopy(head)))),
            momentum=base_momentum,
            end_momentum=end_momentum)

        self.masker = MODELS.build(masker) if masker is not None else None
        self.distill_loss = MODELS.build(distill_loss)
        self.restore_loss = MODELS.build(restore_loss) \
            if self.with_neck else None
        if restore_masked_only and self.masker is None:
            raise ValueError('MST: restore_masked_only=True needs a masker')
        self.distill_weight = distill_weight
        self.restore_weight = restore_weight if self.with_neck else 0.
        self.restore_masked_only = restore_masked_only

    # -- the student as the EMA sees it: the teacher's structure by name ----
    def _student(self) -> nn.ModuleDict:
        return nn.ModuleDict(dict(backbone=self.backbone, head=self.head))

    def extract_feat(self, inputs: Union[torch.Tensor, List[torch.Tensor]]):
        """Backbone features of plain (unmasked) images, mode ``tensor``.

        Args:
            inputs (Tensor | list[Tensor]): (B, 3, H, W), or a list of views
                of which the first is used.

        Returns:
            tuple[Tensor]: The student backbone's outputs per its
            ``out_type`` (the cls token by default).
        """
        if isinstance(inputs, (list, tuple)):
            inputs = inputs[0]
        return self.backbone(inputs)

    @staticmethod
    def _split_views(
            inputs: List[torch.Tensor]
    ) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        """Check the multi-crop layout and batch the views.

        Returns:
            tuple: the global views stacked view-major, (2B, 3, H, W), and
            the local views grouped by size, each (nB, 3, h, w).
        """
        if not isinstance(inputs, (list, tuple)):
            raise TypeError('MST expects a list of views (MultiView '
                            'num_views=[2, N] in the pipeline), got '
                            f'{type(inputs).__name__}')
        sizes = [tuple(v.shape[-2:]) for v in inputs]
        num_global = sum(s == sizes[0] for s in sizes)
        if num_global != NUM_GLOBAL_VIEWS or sizes[1] != sizes[0]:
            raise ValueError(
                f'MST expects exactly {NUM_GLOBAL_VIEWS} global crops first '
                f'(the largest size) followed by the smaller local crops; '
                f'got views of sizes {sizes} from the data pipeline. Use '
                f"MultiView(num_views=[{NUM_GLOBAL_VIEWS}, N], ...)")
        global_views = torch.cat(inputs[:NUM_GLOBAL_VIEWS])
        local_groups: List[List[torch.Tensor]] = []
        for view in inputs[NUM_GLOBAL_VIEWS:]:
            if local_groups and \
                    local_groups[-1][0].shape[-2:] == view.shape[-2:]:
                local_groups[-1].append(view)
            else:
                local_groups.append([view])
        return global_views, [torch.cat(g) for g in local_groups]

    def loss(self, inputs: List[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        """Algorithm 2 on one batch of multi-crop views.

        Args:
            inputs (list[Tensor]): 2 global views (B, 3, H, W) then N local
                views (B, 3, h, w), normalised.
            data_samples (list[DataSample]): Unused.

        Returns:
            dict[str, Tensor]: ``loss_distill`` (lambda1 * L_CE) and
            ``loss_restore`` (lambda2 * L_restore), summed into the total
            by mmengine, plus monitored values: ``mask_ratio``,
            ``teacher_temp``, ``ema_momentum`` and two collapse signals,
            ``teacher_entropy`` (ln K means uniform collapse) and
            ``teacher_batch_entropy`` (near 0 means one dimension dominates).
            ``distill_kl`` = L_CE - teacher_entropy is exactly the mean
            KL(teacher || student), the part of Eq. 2 the student can lower
            (the cross-entropy itself rises while centering and the
            temperature warm-up raise the teacher's entropy).
        """
        global_views, local_views = self._split_views(inputs)
        epoch = MessageHub.get_current_instance().get_info('epoch', 0)

        # 1. Teacher on the global views; it runs first because its attention
        #    decides the student's masks.
        with torch.no_grad():
            self.teacher.update_parameters(self._student())
            t_cls, _, attention = self.teacher.module.backbone.forward_tokens(
                global_views, return_attention=self.masker is not None)
            t_out = self.teacher.module.head(t_cls)

        # 2. Masks of view i from the teacher's attention on view i.
        mask = self.masker(attention) if self.masker is not None else None

        # 3. Student: masked global views, unmasked local views. BN running
        #    statistics of the head are updated by the global views only.
        s_cls, s_patches, _ = self.backbone.forward_tokens(
            global_views, mask=mask)
        s_out = [self.head(s_cls)]
        for views in local_views:
            cls, _, _ = self.backbone.forward_tokens(views)
            s_out.append(self.head(cls, update_stats=False))
        s_out = torch.cat(s_out)

        with torch.no_grad():
            t_probs = self.distill_loss.teacher_probs(t_out, epoch)
            stats = self._collapse_signals(t_probs)
        cross_entropy = self.distill_loss(s_out, t_out, epoch)
        losses = dict(loss_distill=self.distill_weight * cross_entropy)
        # CE = H(teacher) + KL(teacher || student): the KL is the part the
        # student can lower while the teacher's entropy rises in warm-up.
        stats['distill_kl'] = cross_entropy.detach() - stats['teacher_entropy']

        # 4. Restore the whole global views from the patch tokens.
        if self.with_neck:
            restored = self.neck(s_patches)
            losses['loss_restore'] = self.restore_weight * self._restore(
                restored, global_views, mask)

        device = global_views.device
        masked = mask.float().mean() if mask is not None else torch.zeros(
            (), device=device)
        losses.update(
            mask_ratio=masked,
            teacher_temp=torch.tensor(
                self.distill_loss.teacher_temp_at(epoch), device=device),
            ema_momentum=torch.tensor(
                self.teacher.teacher_momentum, device=device),
            **stats)
        return losses

    def _restore(self, restored: torch.Tensor, target: torch.Tensor,
                 mask: Optional[torch.Tensor]) -> torch.Tensor:
        """Eq. 9: L1 over H x W, or over the masked patches only."""
        if not self.restore_masked_only:
            return self.restore_loss(restored, target)
        if not bool(mask.any()):  # nothing masked: no target at all
            return restored.sum() * 0.
        p = self.backbone.patch_size[0]
        return self.restore_loss(
            patchify(restored, p), patchify(target, p), mask.float())

    def _collapse_signals(self,
                          t_probs: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Entropies (nats) of the teacher's sharpened distribution."""
        log_p = t_probs.clamp_min(1e-12).log()
        entropy = -(t_probs * log_p).sum(-1).mean()
        mean_p = t_probs.mean(0)
        batch_entropy = -(mean_p * mean_p.clamp_min(1e-12).log()).sum()
        return dict(
            teacher_entropy=entropy, teacher_batch_entropy=batch_entropy)


def patchify(img: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, L, p * p * C) in the backbone's token order."""
    b, c, h, w = img.shape
    p = patch_size
    x = img.reshape(b, c, h // p, p, w // p, p)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(b, (h // p) * (w // p),
                                               p * p * c)
