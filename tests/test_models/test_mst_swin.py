import pytest
import torch
from mmengine.logging import MessageHub
from mmpretrain.models import SwinTransformer
from mmpretrain.registry import MODELS

from mst_mm.models import MSTSwin

ARCH = dict(embed_dims=16, depths=[1, 1], num_heads=[1, 2])
KWARGS = dict(
    arch=ARCH,
    img_size=32,
    window_size=2,
    out_indices=(1, ),
    pad_small_map=True,
    drop_path_rate=0.)


def build():
    torch.manual_seed(0)
    model = MSTSwin(**KWARGS)
    model.eval()
    return model


def test_forward_tokens_matches_mmpretrain_swin():
    model = build()
    reference = SwinTransformer(**KWARGS)
    missing, unexpected = reference.load_state_dict(
        model.state_dict(), strict=False)
    assert missing == [] and unexpected == ['mask_token']
    reference.eval()
    x = torch.randn(2, 3, 32, 32)
    pooled, featmap, attention = model.forward_tokens(x, return_attention=True)
    torch.testing.assert_close(featmap, reference(x)[0])
    torch.testing.assert_close(pooled, reference(x)[0].mean(dim=(2, 3)))
    # 8 x 8 masking grid (patch 4) from a 4 x 4 last stage (stride 8).
    assert attention.shape == (2, 64)


def test_proxy_attention_is_the_pooled_query_softmax():
    model = build()
    x = torch.randn(2, 3, 32, 32)
    tokens, hw = model.patch_embed(x)
    tokens, hw = model.stages[0](tokens, hw, do_downsample=True)
    block = model.stages[1].blocks[-1]
    h = block.norm1(tokens)
    msa = block.attn.w_msa
    q, k, _ = msa.qkv(h).chunk(3, dim=-1)
    heads = msa.num_heads
    q = msa.qkv(h.mean(1, keepdim=True)).chunk(3, dim=-1)[0]
    d = 16 * 2 // heads
    q = q.reshape(2, 1, heads, d).transpose(1, 2)
    k = k.reshape(2, -1, heads, d).transpose(1, 2)
    per_head = ((q @ k.transpose(-2, -1)) * d**-0.5).softmax(-1)[:, :, 0]
    expected = torch.nn.functional.interpolate(
        per_head.reshape(2 * heads, 1, *hw),
        size=(8, 8),
        mode='bilinear',
        align_corners=False).reshape(2, heads, 64)
    _, _, attention = model.forward_tokens(x, return_attention=True)
    torch.testing.assert_close(attention, expected.mean(1))
    _, _, attention = model.forward_tokens(
        x, return_attention=True, average_heads=False)
    torch.testing.assert_close(attention, expected)


def test_mask_token_and_errors():
    model = build()
    x = torch.randn(1, 3, 32, 32)
    mask = torch.zeros(1, 64, dtype=torch.bool)
    mask[0, 5] = True
    a = model.forward_tokens(x, mask=mask)[1]
    b = model.forward_tokens(x)[1]
    assert not torch.allclose(a, b)
    with pytest.raises(ValueError, match='not divisible by the total stride'):
        model.forward_tokens(torch.randn(1, 3, 36, 36))
    with pytest.raises(
            ValueError,
            match=r'MSTSwin: mask of shape \(1, 10\) '
            r'does not match the \(1, 64\) \(batch, patches\)'):
        model.forward_tokens(x, mask=torch.zeros(1, 10, dtype=torch.bool))
    teacher = MSTSwin(**KWARGS, with_mask_token=False)
    with pytest.raises(
            ValueError,
            match='MSTSwin: a mask was given but this '
            'backbone was built with with_mask_token=False'):
        teacher.forward_tokens(x, mask=mask)


def test_mst_trains_a_swin(tiny_mst_cfg):
    hub = MessageHub.get_current_instance()
    hub.update_info('max_iters', 10)
    torch.manual_seed(0)
    model = MODELS.build(
        tiny_mst_cfg(dict(type='MSTSwin', **KWARGS), (16, 16, 8)))
    views = [torch.randn(2, 3, 32, 32) for _ in range(2)
             ] + [torch.randn(2, 3, 16, 16) for _ in range(2)]
    losses = model.loss(views, None)
    total = losses['loss_distill'] + losses['loss_restore']
    total.backward()
    assert model.backbone.mask_token.grad is not None
    assert 0 < losses['mask_ratio'].item() < 0.5


def test_attention_map_stays_float32_without_ties_under_bf16_autocast():
    """The masker's top-k ranks these 64 up-sampled values: under bf16
    autocast they stay float32 and distinct, where bf16 (8-bit mantissa)
    would merge neighbours of the bilinear map into ties."""
    model = build()
    x = torch.randn(2, 3, 32, 32)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        _, featmap, attention = model.forward_tokens(x, return_attention=True)
    assert featmap.dtype == torch.bfloat16  # the blocks did run in bf16
    assert attention.dtype == torch.float32
    for row in attention:
        assert row.unique().numel() == 64
        assert row.bfloat16().unique().numel() < 64
