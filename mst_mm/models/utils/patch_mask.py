from typing import Optional

import torch


def check_patch_mask(owner: str, mask: torch.Tensor, tokens: torch.Tensor,
                     mask_token: Optional[torch.Tensor]) -> None:
    """Refuse a patch mask the backbone ``owner`` cannot apply.

    Args:
        owner (str): The backbone's name, for the message.
        mask (Tensor): (B, L) bool, True where the patch is masked.
        tokens (Tensor): The patch embeddings it masks, (B, L, C).
        mask_token (Tensor, optional): The backbone's [MASK] token; None
            when it was built with ``with_mask_token=False``.
    """
    if mask_token is None:
        raise ValueError(f'{owner}: a mask was given but this backbone was '
                         'built with with_mask_token=False')
    if mask.shape != tokens.shape[:2]:
        raise ValueError(
            f'{owner}: mask of shape {tuple(mask.shape)} does not match the '
            f'{tuple(tokens.shape[:2])} (batch, patches) of the input')
