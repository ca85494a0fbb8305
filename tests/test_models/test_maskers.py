import math

import pytest
import torch

from mst_mm.models import AttentionGuidedMasker, RandomMasker


def bottom_sets(attention, k):
    return [set(row.argsort()[:k].tolist()) for row in attention]


@pytest.mark.parametrize('num,p', [(8, 0.1), (4, 0.5), (2, 1.0)])
def test_attention_guided_masks_only_lowest_candidates(num, p):
    gen = torch.Generator().manual_seed(0)
    attention = torch.rand(16, 196, generator=gen)
    masker = AttentionGuidedMasker(num=num, p=p)
    k = 196 // num
    allowed = bottom_sets(attention, k)
    for _ in range(20):
        mask = masker(attention, generator=gen)
        assert mask.dtype == torch.bool and mask.shape == (16, 196)
        for row, ok in zip(mask, allowed):
            assert set(row.nonzero().flatten().tolist()) <= ok


def test_attention_guided_p1_masks_exactly_the_candidates():
    attention = torch.rand(4, 64, generator=torch.Generator().manual_seed(1))
    mask = AttentionGuidedMasker(num=8, p=1.0)(attention)
    for row, ok in zip(mask, bottom_sets(attention, 8)):
        assert set(row.nonzero().flatten().tolist()) == ok


def test_attention_guided_ratio_is_p_over_num():
    # L = 196, num = 8: floor(196 / 8) = 24 candidates, each masked with
    # p = 0.1: expected ratio 24 * 0.1 / 196 ~ p / num.
    gen = torch.Generator().manual_seed(2)
    masker = AttentionGuidedMasker(num=8, p=0.1)
    draws = 200
    masked = 0
    for _ in range(draws):
        masked += masker(
            torch.rand(32, 196, generator=gen), generator=gen).sum().item()
    trials = draws * 32 * 24
    ratio = masked / (draws * 32 * 196)
    expected = 24 * 0.1 / 196
    assert masker.expected_ratio(196) == pytest.approx(expected)
    # 5 standard deviations of a Binomial(trials, p), as a ratio.
    tol = 5 * math.sqrt(trials * 0.1 * 0.9) / (draws * 32 * 196)
    assert abs(ratio - expected) < tol
    assert abs(expected - 0.1 / 8) < 0.001


def test_attention_guided_p0_masks_nothing():
    mask = AttentionGuidedMasker(num=8, p=0.)(torch.rand(8, 196))
    assert not mask.any()


def test_attention_guided_is_deterministic_under_a_seed():
    attention = torch.rand(8, 196, generator=torch.Generator().manual_seed(3))
    masker = AttentionGuidedMasker(num=8, p=0.5)
    a = masker(attention, generator=torch.Generator().manual_seed(7))
    b = masker(attention, generator=torch.Generator().manual_seed(7))
    c = masker(attention, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize('num', [0, -1, 1.5, True])
def test_attention_guided_rejects_bad_num(num):
    with pytest.raises(ValueError, match=rf'num={num!r} must be an integer'):
        AttentionGuidedMasker(num=num, p=0.1)


@pytest.mark.parametrize('cls', [AttentionGuidedMasker, RandomMasker])
@pytest.mark.parametrize('p', [-0.1, 1.5])
def test_maskers_reject_p_outside_unit_interval(cls, p):
    with pytest.raises(ValueError, match=rf'{cls.__name__}: p={p} must be'):
        cls(p=p)


def test_random_masker_ratio_and_independence_from_attention():
    gen = torch.Generator().manual_seed(4)
    masker = RandomMasker(p=0.1)
    attention = torch.rand(64, 196, generator=gen)
    masks = torch.stack([masker(attention, generator=gen) for _ in range(50)])
    assert masks.float().mean().item() == pytest.approx(0.1, abs=0.005)
    # Random masking hits the most attended patches too (the Table 4 flaw).
    top = attention.argmax(dim=1)
    hits = masks[:, torch.arange(64), top].float().mean().item()
    assert hits == pytest.approx(0.1, abs=0.03)
