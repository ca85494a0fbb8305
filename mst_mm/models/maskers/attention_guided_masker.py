import math
from typing import Optional

import torch
import torch.nn as nn
from mmpretrain.registry import MODELS


def check_probability(p: float, owner: str) -> None:
    if not isinstance(p, (int, float)) or not 0. <= p <= 1.:
        raise ValueError(f'{owner}: p={p!r} must be a probability in [0, 1]')


@MODELS.register_module()
class AttentionGuidedMasker(nn.Module):
    """MST's attention-guided mask (paper Sec. 3.2, Algorithm 1, Eq. 5).

    The candidates of each image are its ``floor(L / num)`` patches with the
    lowest cls attention (the teacher's last layer, Eq. 4); each candidate is
    masked with probability ``p`` (Bernoulli). No other patch is ever masked,
    so the expected masked fraction is ``floor(L / num) * p / L`` (about
    ``p / num``; 1.25% for the defaults).

    Args:
        num (int): 1/num of the tokens are candidates. Defaults to 8
            (Table 5).
        p (float): Masking probability of a candidate. Defaults to 0.1
            (Table 5).
    """

    def __init__(self, num: int = 8, p: float = 0.1) -> None:
        super().__init__()
        if isinstance(num, bool) or not isinstance(num, int) or num < 1:
            raise ValueError(
                f'AttentionGuidedMasker: num={num!r} must be an integer >= 1 '
                '(the lowest 1/num of the tokens are mask candidates)')
        check_probability(p, 'AttentionGuidedMasker')
        self.num = num
        self.p = float(p)

    def forward(self,
                attention: torch.Tensor,
                generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Draw a mask.

        Args:
            attention (Tensor): (B, L) cls attention of each patch.
            generator (torch.Generator, optional): Random source, for
                reproducible masks.

        Returns:
            Tensor: (B, L) bool, True where the patch is masked.
        """
        if attention.dim() != 2:
            raise ValueError('AttentionGuidedMasker: attention must have '
                             f'shape (B, L), got {tuple(attention.shape)}')
        batch, length = attention.shape
        num_candidates = length // self.num
        mask = torch.zeros_like(attention, dtype=torch.bool)
        if num_candidates == 0 or self.p == 0.:
            return mask
        # The candidates: the floor(L/num) least attended patches (the
        # threshold tau of Eq. 5 is the attention of the last of them).
        candidates = attention.topk(
            num_candidates, dim=1, largest=False, sorted=False).indices
        draws = torch.rand((batch, num_candidates),
                           generator=generator,
                           device=generator.device
                           if generator is not None else attention.device)
        chosen = draws.to(attention.device) < self.p
        mask.scatter_(1, candidates, chosen)
        return mask

    def expected_ratio(self, length: int) -> float:
        """Expected masked fraction for ``length`` patches."""
        return math.floor(length / self.num) * self.p / length

    def extra_repr(self) -> str:
        return f'num={self.num}, p={self.p}'
