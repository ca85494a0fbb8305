import torch
import torch.nn as nn
import torch.nn.functional as F


def query_attention(query: torch.Tensor, tokens: torch.Tensor, qkv: nn.Linear,
                    num_heads: int, scale: float) -> torch.Tensor:
    """One query per sample attending over a block's tokens, per head:
    ``softmax_n(Q_h K_h^T * scale)`` with the block's own projections.

    Only that query row is computed (a (B, H, N) product), not the N x N
    map, so the backbones can ask for it next to the fused attention. MSTViT
    uses the cls token as the query (Eq. 4), MSTSwin the pooled tokens.

    Args:
        query (Tensor): The normalised query token, (B, C).
        tokens (Tensor): The block's normalised input tokens, (B, N, C).
        qkv (nn.Linear): The block's fused projection, C -> 3C laid out as
            (q, k, v).
        num_heads (int): Number of heads H; each has C / H channels.
        scale (float): The logits' factor, usually (C / H) ** -0.5.

    Returns:
        Tensor: (B, H, N), float32, each row summing to 1.
    """
    # float32 throughout, autocast or not: these probabilities rank patches
    # (the masker's top-k), and under bf16 autocast both the projections and
    # the einsum would run in bf16, whose 8-bit mantissa turns near-equal
    # scores (Swin's up-sampled map has few distinct values) into ties.
    with torch.autocast(device_type=tokens.device.type, enabled=False):
        c = tokens.shape[-1]
        weight = qkv.weight.float()
        bias = qkv.bias.float() if qkv.bias is not None else None
        q = F.linear(query.float(), weight[:c],
                     bias[:c] if bias is not None else None)
        k = F.linear(tokens.float(), weight[c:2 * c],
                     bias[c:2 * c] if bias is not None else None)
        b, n = k.shape[:2]
        q = q.reshape(b, num_heads, c // num_heads)
        k = k.reshape(b, n, num_heads, c // num_heads)
        logits = torch.einsum('bhd,bnhd->bhn', q, k) * scale
        return logits.softmax(dim=-1)
