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
    c = tokens.shape[-1]
    weight, bias = qkv.weight, qkv.bias
    q = F.linear(query, weight[:c], bias[:c] if bias is not None else None)
    k = F.linear(tokens, weight[c:2 * c],
                 bias[c:2 * c] if bias is not None else None)
    b, n = k.shape[:2]
    q = q.reshape(b, num_heads, c // num_heads).float()
    k = k.reshape(b, n, num_heads, c // num_heads).float()
    logits = torch.einsum('bhd,bnhd->bhn', q, k) * scale
    return logits.softmax(dim=-1)
