from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.models.backbones import SwinTransformer
from mmpretrain.models.utils import resize_pos_embed
from mmpretrain.registry import MODELS

from ..utils.patch_mask import check_patch_mask
from ..utils.query_attention import query_attention


@MODELS.register_module()
class MSTSwin(SwinTransformer):
    """Swin Transformer with MST's [MASK] token and an attention proxy.

    MST pre-trains Swin-T as well as DeiT-S (Table 1). Swin has no cls token,
    so two choices, documented here, stand in for the ViT's:

    - **Masking** happens on the patch-embedding grid (4 x 4 pixels, 56 x 56
      tokens at 224 px), after the linear patch projection, as for ViT:
      ``L = H/4 * W/4``.
    - **Attention** (the Eq. 4 analogue): the query is the mean of the last
      block's normalised input tokens (what the pooled feature given to the
      head summarises), the keys are that block's keys over the whole last
      stage (7 x 7 at 224 px, one window), softmax over the tokens, averaged
      over heads. The (H/32, W/32) map is up-sampled bilinearly to the
      (H/4, W/4) masking grid, so each 8 x 8 group of patch tokens shares
      the importance of its last-stage token.

    ``forward_tokens`` returns the average-pooled, normalised last stage
    (B, C) for the projection head, the last stage as a (B, C, H/32, W/32)
    map for the decoder (``patch_size=32`` there: 5 up-samplings), and the
    attention (B, L). ``forward`` is mmpretrain's.

    Args:
        with_mask_token (bool): Create the [MASK] token (the teacher has
            none). Defaults to True.
        **kwargs: :class:`SwinTransformer` arguments; use
            ``pad_small_map=True`` so that 96 px local crops (3 x 3 last
            stage) are accepted.
    """

    def __init__(self, *args, with_mask_token: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.patch_size = self.patch_embed.projection.stride
        self.out_stride = self.patch_size[0] * 2**(len(self.stages) - 1)
        if with_mask_token:
            self.mask_token = nn.Parameter(torch.zeros(1, 1, self.embed_dims))
            trunc_normal_(self.mask_token, std=.02)
        else:
            self.mask_token = None

    def _check_input(self, x: torch.Tensor) -> None:
        h, w = x.shape[-2:]
        if h % self.out_stride or w % self.out_stride:
            raise ValueError(
                f'MSTSwin: input images of size {h}x{w} are not divisible '
                f'by the total stride {self.out_stride} of the backbone; '
                'choose crop sizes that are multiples of it')

    def proxy_attention(self,
                        block: nn.Module,
                        x: torch.Tensor,
                        hw: Tuple[int, int],
                        average_heads: bool = True) -> torch.Tensor:
        """The pooled query's attention over the tokens of ``block``'s input
        (B, N, C), averaged over heads: (B, N), float32 (per head with
        ``average_heads=False``: (B, num_heads, N))."""
        msa = block.attn.w_msa
        h = block.norm1(x)
        probs = query_attention(
            h.mean(dim=1), h, msa.qkv, msa.num_heads, msa.scale)
        return probs.mean(dim=1) if average_heads else probs

    def forward_tokens(
        self,
        x: torch.Tensor,
        mask: Optional[torch.Tensor] = None,
        return_attention: bool = False,
        average_heads: bool = True
    ) -> Tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
        """(B, 3, H, W) -> pooled (B, C), map (B, C, H/32, W/32), attention
        (B, H/4 * W/4) or None. ``mask``: (B, H/4 * W/4) bool.
        ``average_heads=False``: the attention per head,
        (B, num_heads, H/4 * W/4)."""
        self._check_input(x)
        tokens, hw = self.patch_embed(x)
        grid = hw
        if mask is not None:
            check_patch_mask('MSTSwin', mask, tokens, self.mask_token)
            m = mask.unsqueeze(-1).to(tokens.dtype)
            tokens = tokens * (1 - m) + self.mask_token.to(tokens.dtype) * m
        if self.use_abs_pos_embed:
            tokens = tokens + resize_pos_embed(
                self.absolute_pos_embed, self.patch_resolution, hw,
                self.interpolate_mode, self.num_extra_tokens)
        tokens = self.drop_after_pos(tokens)

        attention = None
        last = len(self.stages) - 1
        for i, stage in enumerate(self.stages):
            if i < last:
                tokens, hw = stage(tokens, hw, do_downsample=True)
                continue
            for j, block in enumerate(stage.blocks):
                if return_attention and j == len(stage.blocks) - 1:
                    attention = self.proxy_attention(block, tokens, hw,
                                                     average_heads)
                tokens = block(tokens, hw)
        tokens = getattr(self, f'norm{last}')(tokens)
        featmap = tokens.transpose(1, 2).reshape(tokens.shape[0], -1, *hw)
        if attention is not None:
            attention = F.interpolate(
                attention.reshape(-1, 1, *hw),
                size=grid,
                mode='bilinear',
                align_corners=False).reshape(*attention.shape[:-1], -1)
        return tokens.mean(dim=1), featmap, attention
