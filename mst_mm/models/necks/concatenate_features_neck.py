from typing import Tuple

import torch
import torch.nn as nn
from mmpretrain.registry import MODELS


@MODELS.register_module()
class ConcatenateFeaturesNeck(nn.Module):
    """Concatenate the backbone's outputs along the channels.

    DINO's linear protocol (which MST reports as its headline numbers,
    Appendix E) feeds the classifier the cls tokens of the last 4 blocks,
    concatenated: with ``MSTViT(out_indices=(8, 9, 10, 11),
    out_type='cls_token', norm_all_outputs=True)`` this neck turns the four
    (B, C) tokens into one (B, 4C) feature.

    Shapes: tuple of (B, C_i) -> tuple with one (B, sum C_i).
    """

    def forward(self, inputs: Tuple[torch.Tensor, ...]) -> Tuple[torch.Tensor]:
        if not isinstance(inputs, (tuple, list)) or not inputs:
            raise TypeError('ConcatenateFeaturesNeck expects a non-empty '
                            'tuple of (B, C) features, got '
                            f'{type(inputs).__name__}')
        return (torch.cat(tuple(inputs), dim=1), )
