from typing import Dict, Sequence

import torch
import torch.nn.functional as F


@torch.no_grad()
def weighted_knn_classify(train_feats: torch.Tensor,
                          train_labels: torch.Tensor,
                          query_feats: torch.Tensor,
                          num_classes: int,
                          ks: Sequence[int] = (10, 20, 100, 200),
                          temperature: float = 0.07,
                          chunk_size: int = 256) -> Dict[int, torch.Tensor]:
    r"""Weighted k-NN classification (Wu et al. 2018; MST Appendix D, DINO).

    Features are L2-normalised; each query's k most similar training
    features vote for their class with weight :math:`\exp(s / T)`, s the
    cosine similarity. Queries are processed ``chunk_size`` at a time, so
    memory is ``chunk_size x N`` rather than ``Q x N``.

    Args:
        train_feats (Tensor): (N, D) memory bank.
        train_labels (Tensor): (N,) int labels in [0, num_classes).
        query_feats (Tensor): (Q, D).
        num_classes (int): C.
        ks (Sequence[int]): The k values, all computed from one top-k.
        temperature (float): T. Defaults to 0.07.
        chunk_size (int): Queries per chunk.

    Returns:
        dict[int, Tensor]: For each k, (Q, C) vote scores; ``argmax`` is the
        prediction, ``topk(5)`` gives top-5.
    """
    if train_feats.shape[0] != train_labels.shape[0]:
        raise ValueError(
            f'weighted_knn_classify: {train_feats.shape[0]} training '
            f'features but {train_labels.shape[0]} labels')
    if train_feats.shape[1] != query_feats.shape[1]:
        raise ValueError(
            f'weighted_knn_classify: training features of dimension '
            f'{train_feats.shape[1]}, queries of {query_feats.shape[1]}')
    if min(ks) < 1:
        raise ValueError(f'weighted_knn_classify: ks={list(ks)} must be >= 1')
    max_k = min(max(ks), train_feats.shape[0])
    train_feats = F.normalize(train_feats.float(), dim=1)
    train_labels = train_labels.long()
    scores = {k: [] for k in ks}
    for start in range(0, query_feats.shape[0], chunk_size):
        query = F.normalize(
            query_feats[start:start + chunk_size].float().to(
                train_feats.device),
            dim=1)
        sim, idx = (query @ train_feats.T).topk(max_k, dim=1)  # sorted
        weights = (sim / temperature).exp()
        labels = train_labels[idx]
        for k in ks:
            votes = torch.zeros(
                query.shape[0], num_classes, device=query.device)
            votes.scatter_add_(1, labels[:, :k], weights[:, :k])
            scores[k].append(votes.cpu())
    return {k: torch.cat(v) for k, v in scores.items()}


def knn_accuracy(scores: Dict[int, torch.Tensor],
                 labels: torch.Tensor) -> Dict[str, float]:
    """Top-1 (and top-5 when there are at least 5 classes) in percent."""
    result = {}
    labels = labels.long().cpu()
    for k, votes in scores.items():
        result[f'k{k}_top1'] = 100. * (votes.argmax(1)
                                       == labels).float().mean().item()
        if votes.shape[1] >= 5:
            top5 = votes.topk(5, dim=1).indices
            result[f'k{k}_top5'] = 100. * (
                top5 == labels[:, None]).any(1).float().mean().item()
    return result
