from typing import Optional

import torch
import torch.nn as nn
from mmpretrain.registry import MODELS

from .attention_guided_masker import check_probability


@MODELS.register_module()
class RandomMasker(nn.Module):
    """BERT-style random token mask (paper Eq. 3), the Table 4 baseline.

    Every patch is masked independently with probability ``p``, whatever its
    attention: crucial regions are as likely to be masked as background.

    Args:
        p (float): Masking probability. Eq. 3 gives 0.15 as BERT's default;
            Table 4 compares strategies at the same p as MST (0.1).
            Defaults to 0.15.
    """

    def __init__(self, p: float = 0.15) -> None:
        super().__init__()
        check_probability(p, 'RandomMasker')
        self.p = float(p)

    def forward(self,
                attention: torch.Tensor,
                generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Draw a mask of the shape of ``attention`` (B, L), which is used
        for its shape only. Returns a (B, L) bool mask."""
        if attention.dim() != 2:
            raise ValueError('RandomMasker: attention must have shape '
                             f'(B, L), got {tuple(attention.shape)}')
        draws = torch.rand(
            attention.shape,
            generator=generator,
            device=generator.device
            if generator is not None else attention.device)
        return draws.to(attention.device) < self.p

    def expected_ratio(self, length: int) -> float:
        """Expected masked fraction for ``length`` patches."""
        return self.p

    def extra_repr(self) -> str:
        return f'p={self.p}'
