from typing import Optional, Tuple

import torch
import torch.nn as nn
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.models.backbones import VisionTransformer
from mmpretrain.models.utils import resize_pos_embed
from mmpretrain.registry import MODELS

from ..utils.patch_mask import check_patch_mask
from ..utils.query_attention import query_attention

MASK_REPLACEMENTS = ('learnable', 'bert')


@MODELS.register_module()
class MSTViT(VisionTransformer):
    """Vision Transformer with MST's [MASK] token and the teacher's CLS
    attention (paper Sec. 3.2, Algorithm 1, Eq. 4 and Eq. 6).

    Everything else is mmpretrain's :class:`VisionTransformer`, so
    ``forward`` keeps its ``out_type`` semantics and checkpoints load into a
    plain ``VisionTransformer`` (the mask token is the only extra key).

    Two additions:

    - **Masking** (Eq. 6, Appendix K): masked patch embeddings are replaced by
      a learnable ``mask_token`` after the linear patch projection and before
      the position embedding and the cls token are added.
    - **CLS attention** (Eq. 4): ``Attn = 1/H sum_h softmax(Q_h^cls K_h^T /
      sqrt(d))`` of the last block, restricted to the patch tokens. Only the
      cls query row is computed (one (B, H, N) product from the cls query and
      the keys); every block, the last one included, still runs the fused
      scaled-dot-product attention, so asking for the map adds no N x N work.

    Args:
        with_mask_token (bool): Create the learnable ``mask_token``. The EMA
            teacher is built without it. Defaults to True.
        norm_all_outputs (bool): Pass every ``out_indices`` output, not only
            the last layer's, through the final LayerNorm, as DINO's
            ``get_intermediate_layers`` does for its linear protocol (the
            concatenated cls tokens of the last 4 blocks). Defaults to False
            (mmpretrain's behaviour).
        mask_replacement (str): ``'learnable'`` replaces every masked token by
            ``mask_token`` (MST). ``'bert'`` is BERT's 80/10/10 rule (80% mask
            token, 10% another patch embedding of the batch, 10% unchanged),
            the Table 10 ablation. Defaults to ``'learnable'``.
        **kwargs: :class:`VisionTransformer` arguments.
    """

    def __init__(self,
                 *args,
                 with_mask_token: bool = True,
                 mask_replacement: str = 'learnable',
                 norm_all_outputs: bool = False,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if norm_all_outputs and not self.final_norm:
            raise ValueError('MSTViT: norm_all_outputs=True needs '
                             'final_norm=True (it reuses the final norm)')
        self.norm_all_outputs = norm_all_outputs
        if mask_replacement not in MASK_REPLACEMENTS:
            raise ValueError(
                f'MSTViT: mask_replacement={mask_replacement!r}, expected '
                f'one of {MASK_REPLACEMENTS}')
        if self.cls_token is None:
            raise ValueError('MSTViT needs with_cls_token=True: the cls '
                             'token gives the projection head its input and '
                             'the query of the attention map (Eq. 4)')
        self.mask_replacement = mask_replacement
        self.patch_size = self.patch_embed.projection.stride
        if with_mask_token:
            # Initialised here rather than in init_weights: a Pretrained
            # init_cfg from plain ViT/DINO weights has no mask token, and it
            # must still start small and random, not at zero.
            self.mask_token = nn.Parameter(torch.zeros(1, 1, self.embed_dims))
            trunc_normal_(self.mask_token, std=.02)
        else:
            self.mask_token = None

    def _check_input(self, x: torch.Tensor) -> None:
        h, w = x.shape[-2:]
        ph, pw = self.patch_size
        if h % ph or w % pw:
            raise ValueError(
                f'MSTViT: input images of size {h}x{w} are not divisible by '
                f'the patch size {ph}x{pw}; choose crop sizes that are '
                'multiples of the patch size in the data pipeline')

    def embed_patches(
        self,
        x: torch.Tensor,
        mask: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """Patch projection, masking, cls token and position embedding.

        Args:
            x (Tensor): Images, (B, 3, H, W).
            mask (Tensor, optional): (B, L) bool, True where the patch is
                masked, L = H/p * W/p.

        Returns:
            tuple: Tokens (B, 1 + L, C) and the patch grid (H/p, W/p).
        """
        self._check_input(x)
        x, patch_resolution = self.patch_embed(x)
        if mask is not None:
            check_patch_mask('MSTViT', mask, x, self.mask_token)
            x = self._replace_masked(x, mask)

        cls_token = self.cls_token.expand(x.shape[0], -1, -1)
        x = torch.cat((cls_token, x), dim=1)
        x = x + resize_pos_embed(
            self.pos_embed,
            self.patch_resolution,
            patch_resolution,
            mode=self.interpolate_mode,
            num_extra_tokens=self.num_extra_tokens)
        x = self.drop_after_pos(x)
        return self.pre_norm(x), patch_resolution

    def _replace_masked(self, x: torch.Tensor,
                        mask: torch.Tensor) -> torch.Tensor:
        """Eq. 6: ``(1 - m) * e + m * [MASK]`` (or BERT's 80/10/10)."""
        m = mask.unsqueeze(-1).to(x.dtype)
        mask_token = self.mask_token.to(x.dtype)
        if self.mask_replacement == 'learnable':
            return x * (1 - m) + mask_token * m
        # BERT: of the masked tokens, 80% -> [MASK], 10% -> a random patch
        # embedding drawn from the batch, 10% -> left unchanged.
        u = torch.rand(mask.shape, device=x.device)
        use_mask = (mask & (u < 0.8)).unsqueeze(-1).to(x.dtype)
        use_random = (mask & (u >= 0.8) & (u < 0.9)).unsqueeze(-1).to(x.dtype)
        flat = x.reshape(-1, x.shape[-1])
        random_tokens = flat[torch.randint(
            flat.shape[0], mask.shape, device=x.device)]
        return (x * (1 - use_mask - use_random) + mask_token * use_mask +
                random_tokens * use_random)

    def cls_attention(self,
                      layer: nn.Module,
                      x: torch.Tensor,
                      average_heads: bool = True) -> torch.Tensor:
        """Eq. 4 for one block: the cls query's attention over the patches,
        averaged over heads (or per head).

        Args:
            layer (TransformerEncoderLayer): The block.
            x (Tensor): Its input tokens, (B, N, C), N = 1 + L.
            average_heads (bool): Take Eq. 4's mean over the heads. False
                gives every head's map (Figure 3). Defaults to True.

        Returns:
            Tensor: (B, L), or (B, num_heads, L) per head; float32.
        """
        attn = layer.attn
        h = layer.ln1(x)
        probs = query_attention(h[:, 0], h, attn.qkv, attn.num_heads,
                                attn.head_dims**-0.5)
        probs = probs[:, :, self.num_extra_tokens:]
        return probs.mean(dim=1) if average_heads else probs

    def forward_tokens(
        self,
        x: torch.Tensor,
        mask: Optional[torch.Tensor] = None,
        return_attention: bool = False,
        average_heads: bool = True
    ) -> Tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
        """The forward MST uses: tokens of the last layer and, optionally,
        the last block's cls attention.

        Args:
            x (Tensor): Images, (B, 3, H, W).
            mask (Tensor, optional): (B, L) bool masked-patch map.
            return_attention (bool): Also compute Eq. 4 on the last block.
            average_heads (bool): See :meth:`cls_attention`.

        Returns:
            tuple: cls token (B, C); patch tokens as a feature map
            (B, C, H/p, W/p); the attention (B, L) (per head
            (B, num_heads, L)) or None.
        """
        x, hw = self.embed_patches(x, mask)
        attention = None
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            if return_attention and i == last:
                attention = self.cls_attention(layer, x, average_heads)
            x = layer(x)
        if self.final_norm:
            x = self.ln1(x)
        cls_token = x[:, 0]
        patches = x[:, self.num_extra_tokens:]
        featmap = patches.transpose(1, 2).reshape(x.shape[0], -1, *hw)
        return cls_token, featmap, attention

    def forward(self,
                x: torch.Tensor,
                mask: Optional[torch.Tensor] = None) -> tuple:
        """mmpretrain's forward (``out_indices``/``out_type``), with an
        optional (B, L) mask. ``forward(x)`` equals VisionTransformer's."""
        x, patch_resolution = self.embed_patches(x, mask)
        outs = []
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i == last and self.final_norm:
                x = self.ln1(x)
            if i in self.out_indices:
                out = self.ln1(x) if (self.norm_all_outputs
                                      and i != last) else x
                outs.append(self._format_output(out, patch_resolution))
        return tuple(outs)
