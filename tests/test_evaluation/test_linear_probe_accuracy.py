"""The frozen-feature linear probe of the small-scale study."""
import pytest
import torch

from mst_mm.evaluation import linear_probe_accuracy


def _blobs(centres, n_per_class, spread, seed):
    """Gaussian clusters around ``centres`` (C, D), with their labels."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(len(centres)).repeat_interleave(n_per_class)
    feats = centres[labels] + spread * torch.randn(
        len(labels), centres.shape[1], generator=g)
    return feats, labels


def test_separable_classes_are_found():
    centres = torch.randn(4, 16, generator=torch.Generator().manual_seed(0))
    train = _blobs(centres * 3, 40, 0.5, seed=1)
    val = _blobs(centres * 3, 20, 0.5, seed=2)
    assert linear_probe_accuracy(*train, *val, num_classes=4) == 100.0


def test_features_without_information_stay_at_chance():
    g = torch.Generator().manual_seed(0)
    train_feats = torch.randn(400, 8, generator=g)
    train_labels = torch.randint(0, 4, (400, ), generator=g)
    val_feats = torch.randn(400, 8, generator=g)
    val_labels = torch.randint(0, 4, (400, ), generator=g)
    acc = linear_probe_accuracy(
        train_feats, train_labels, val_feats, val_labels, num_classes=4)
    assert 15.0 < acc < 35.0


def test_one_informative_dimension_among_large_noise_is_found():
    # One informative dimension among 31 large noise dimensions: a linear
    # classifier finds it (standardisation puts all dimensions on one scale).
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 2, (600, ), generator=g)
    feats = torch.randn(600, 32, generator=g) * 10
    feats[:, 0] = labels.float() * 2 - 1 + 0.1 * torch.randn(600, generator=g)
    acc = linear_probe_accuracy(
        feats[:400], labels[:400], feats[400:], labels[400:], num_classes=2)
    assert acc > 95.0


def test_mismatched_shapes_are_named():
    with pytest.raises(ValueError, match=r'\(4, 3\) and \(2, 5\)'):
        linear_probe_accuracy(
            torch.zeros(4, 3),
            torch.zeros(4),
            torch.zeros(2, 5),
            torch.zeros(2),
            num_classes=2)
    with pytest.raises(ValueError, match='4 vs 3'):
        linear_probe_accuracy(
            torch.zeros(4, 3),
            torch.zeros(3),
            torch.zeros(2, 3),
            torch.zeros(2),
            num_classes=2)
