import math

import pytest
import torch
from mmengine.logging import MessageHub
from mmpretrain.registry import MODELS

import mst_mm  # noqa: F401

ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


@pytest.fixture(autouse=True)
def hub():
    hub = MessageHub.get_current_instance()
    hub.update_info('max_iters', 10)
    hub.update_info('epoch', 0)
    return hub


@pytest.fixture
def build(tiny_mst_cfg):
    """``build(**overrides)``: the tiny MST model (a 2-block ViT) with
    ``overrides`` of its config, initialised with seed 0."""

    def make(**overrides):
        torch.manual_seed(0)
        cfg = tiny_mst_cfg(
            dict(
                type='MSTViT',
                arch=ARCH,
                img_size=32,
                patch_size=8,
                drop_path_rate=0.1))
        cfg.update(overrides)
        model = MODELS.build(cfg)
        model.init_weights()
        return model

    return make


def views(batch=4, num_local=2, global_size=32, local_size=16):
    g = torch.Generator().manual_seed(1)
    return ([
        torch.randn(batch, 3, global_size, global_size, generator=g)
        for _ in range(2)
    ] + [
        torch.randn(batch, 3, local_size, local_size, generator=g)
        for _ in range(num_local)
    ])


def test_loss_returns_weighted_losses_and_monitors(build):
    model = build()
    losses = model.loss(views(), None)
    assert set(losses) == {
        'loss_distill', 'loss_restore', 'mask_ratio', 'teacher_temp',
        'ema_momentum', 'teacher_entropy', 'teacher_batch_entropy',
        'distill_kl'
    }
    assert losses['distill_kl'].item() >= 0
    torch.testing.assert_close(
        losses['distill_kl'],
        losses['loss_distill'] - losses['teacher_entropy'])
    assert all(torch.isfinite(v) for v in losses.values())
    assert losses['teacher_temp'].item() == pytest.approx(0.04)
    assert losses['ema_momentum'].item() == pytest.approx(0.996)
    assert 0 <= losses['teacher_entropy'].item() <= math.log(64) + 1e-4
    # 16 tokens, num=2: 8 candidates masked with p=0.5 -> ~25%.
    assert 0. < losses['mask_ratio'].item() < 0.5


def test_teacher_has_no_drop_path_no_mask_token_and_starts_as_student(build):
    model = build()
    teacher = model.teacher.module
    assert teacher.backbone.mask_token is None
    drop_probs = [
        m.drop_prob for m in teacher.modules()
        if type(m).__name__ == 'DropPath'
    ]
    assert drop_probs and all(p == 0 for p in drop_probs)
    assert any(m.drop_prob > 0 for m in model.backbone.modules()
               if type(m).__name__ == 'DropPath')
    model.loss(views(), None)
    for name, p in teacher.named_parameters():
        src = dict(model.named_parameters())[name]
        torch.testing.assert_close(p, src)
    assert not any(p.requires_grad for p in teacher.parameters())


def test_student_masks_come_from_teacher_attention_of_the_same_view(build):
    model = build(masker=dict(type='AttentionGuidedMasker', num=2, p=1.0))
    captured = {}
    original = model.backbone.forward_tokens

    def spy(x, mask=None, return_attention=False):
        if mask is not None:
            captured['mask'] = mask
        return original(x, mask, return_attention)

    model.backbone.forward_tokens = spy
    x = views()
    model.loss(x, None)
    with torch.no_grad():
        _, _, attention = model.teacher.module.backbone.forward_tokens(
            torch.cat(x[:2]), return_attention=True)
    expected = torch.zeros_like(attention, dtype=torch.bool)
    expected.scatter_(1, attention.topk(8, dim=1, largest=False).indices, True)
    assert torch.equal(captured['mask'], expected)


def test_dino_baseline_has_no_mask_and_no_restoration(build):
    model = build(masker=None, neck=None)
    losses = model.loss(views(), None)
    assert 'loss_restore' not in losses
    assert losses['mask_ratio'].item() == 0.


def test_restoration_target_is_the_global_views(build):
    model = build(restore_weight=1.0, distill_weight=0.)
    x = views()
    captured = {}
    original = model.restore_loss.forward
    model.restore_loss.forward = lambda pred, target, mask=None: (
        captured.update(pred=pred, target=target) or original(pred, target))
    losses = model.loss(x, None)
    assert torch.equal(captured['target'], torch.cat(x[:2]))
    assert captured['pred'].shape == (8, 3, 32, 32)
    torch.testing.assert_close(losses['loss_restore'],
                               (captured['pred'] -
                                captured['target']).abs().mean())
    assert losses['loss_distill'].item() == 0.


def test_head_bn_statistics_come_from_global_views_only(build):
    model = build()
    head = model.head
    bn = head.mlp[1]
    x = torch.randn(6, 32)
    before = bn.running_mean.clone()
    head(x, update_stats=False)
    assert torch.equal(bn.running_mean, before)
    head(x)
    assert not torch.equal(bn.running_mean, before)


def test_extract_feat_works_on_plain_images(build):
    model = build()
    feats = model(torch.randn(2, 3, 32, 32), mode='tensor')
    assert feats[0].shape == (2, 32)


@pytest.mark.parametrize('sizes',
                         [[32, 16, 16], [32, 32, 32, 16], [16, 32, 32]])
def test_global_crop_count_other_than_two_is_an_error(sizes, build):
    model = build()
    x = [torch.randn(2, 3, s, s) for s in sizes]
    with pytest.raises(ValueError, match='exactly 2 global crops'):
        model.loss(x, None)


def test_restore_masked_only_needs_a_masker(build):
    with pytest.raises(ValueError, match='restore_masked_only=True needs'):
        build(masker=None, restore_masked_only=True)


def test_restore_masked_only_uses_masked_patches(build):
    model = build(
        restore_masked_only=True, masker=dict(type='RandomMasker', p=0.5))
    losses = model.loss(views(), None)
    assert torch.isfinite(losses['loss_restore'])
