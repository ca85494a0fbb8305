import torch
import torch.nn.functional as F


def linear_probe_accuracy(train_feats: torch.Tensor,
                          train_labels: torch.Tensor,
                          val_feats: torch.Tensor,
                          val_labels: torch.Tensor,
                          num_classes: int,
                          weight_decay: float = 1e-4,
                          max_iter: int = 200) -> float:
    """Top-1 (%) of a linear classifier trained on frozen features.

    The small-scale counterpart of the paper's linear evaluation (Sec. 4.2):
    no augmentation, so the features of every image are extracted once and
    the probe is a multinomial logistic regression, fitted full-batch with
    L-BFGS (deterministic, seconds on a CPU for thousands of images). The
    features are standardised with the training set's mean and standard
    deviation (the role BN plays before DINO's linear layer).

    Args:
        train_feats (Tensor): (N, D) features of the training images.
        train_labels (Tensor): (N,) integer labels.
        val_feats (Tensor): (M, D) features of the evaluation images.
        val_labels (Tensor): (M,) integer labels.
        num_classes (int): C.
        weight_decay (float): L2 penalty on the weights (mean over samples
            of the cross-entropy + ``weight_decay / 2 * ||W||^2``).
        max_iter (int): L-BFGS iterations.

    Returns:
        float: top-1 accuracy on the evaluation images, in percent.
    """
    if train_feats.dim() != 2 or val_feats.dim() != 2 or \
            train_feats.shape[1] != val_feats.shape[1]:
        raise ValueError(
            'linear_probe_accuracy: expected (N, D) and (M, D) features, got '
            f'{tuple(train_feats.shape)} and {tuple(val_feats.shape)}')
    if len(train_feats) != len(train_labels) or \
            len(val_feats) != len(val_labels):
        raise ValueError('linear_probe_accuracy: features and labels differ '
                         f'in number ({len(train_feats)} vs '
                         f'{len(train_labels)}, {len(val_feats)} vs '
                         f'{len(val_labels)})')
    x = train_feats.double()
    mean, std = x.mean(0), x.std(0).clamp_min(1e-6)
    x = (x - mean) / std
    x_val = (val_feats.double() - mean) / std
    y = train_labels.long()

    weight = torch.zeros(
        x.shape[1], num_classes, dtype=x.dtype, requires_grad=True)
    bias = torch.zeros(num_classes, dtype=x.dtype, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias],
                                  max_iter=max_iter,
                                  line_search_fn='strong_wolfe')

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(x @ weight + bias, y) + \
            weight_decay / 2 * weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        pred = (x_val @ weight + bias).argmax(1)
    return float((pred == val_labels.long()).double().mean() * 100)
