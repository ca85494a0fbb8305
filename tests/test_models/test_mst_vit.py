import pytest
import torch
from mmpretrain.models import VisionTransformer

from mst_mm.models import MSTViT

ARCH = dict(embed_dims=32, num_layers=3, num_heads=4, feedforward_channels=64)


def build(**kwargs):
    torch.manual_seed(0)
    model = MSTViT(arch=ARCH, img_size=32, patch_size=8, **kwargs)
    model.init_weights()
    # Non-zero cls token and position embedding make the checks sharper.
    torch.nn.init.normal_(model.cls_token)
    model.eval()
    return model


def full_attention_cls_row(layer, x):
    """Reference Eq. 4 before the mean over heads, (B, H, L), from the full
    softmax(QK^T / sqrt(d)) of a block."""
    h = layer.ln1(x)
    b, n, c = h.shape
    heads = layer.attn.num_heads
    qkv = layer.attn.qkv(h).reshape(b, n, 3, heads, c // heads)
    q, k = qkv[:, :, 0].transpose(1, 2), qkv[:, :, 1].transpose(1, 2)
    attn = (q @ k.transpose(-2, -1) * (c // heads)**-0.5).softmax(-1)
    return attn[:, :, 0, 1:]


def test_cls_attention_equals_full_attention_row():
    model = build()
    x = torch.randn(2, 3, 32, 32)
    tokens, _ = model.embed_patches(x)
    for layer in model.layers[:-1]:
        tokens = layer(tokens)
    per_head = full_attention_cls_row(model.layers[-1], tokens)
    _, _, attention = model.forward_tokens(x, return_attention=True)
    assert attention.shape == (2, 16)
    torch.testing.assert_close(
        attention, per_head.mean(dim=1), rtol=1e-5, atol=1e-6)
    _, _, heads = model.forward_tokens(
        x, return_attention=True, average_heads=False)
    assert heads.shape == (2, 4, 16)
    torch.testing.assert_close(heads, per_head, rtol=1e-5, atol=1e-6)


def test_forward_matches_mmpretrain_vision_transformer():
    model = build(out_type='cls_token')
    reference = VisionTransformer(
        arch=ARCH, img_size=32, patch_size=8, out_type='cls_token')
    reference.eval()
    missing, unexpected = reference.load_state_dict(
        model.state_dict(), strict=False)
    assert missing == [] and unexpected == ['mask_token']
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(model(x)[0], reference(x)[0])
    cls, featmap, attention = model.forward_tokens(x)
    torch.testing.assert_close(cls, reference(x)[0])
    assert featmap.shape == (2, 32, 4, 4) and attention is None


def test_mask_token_replaces_patch_embedding_before_pos_embed():
    model = build()
    x = torch.randn(2, 3, 32, 32)
    mask = torch.zeros(2, 16, dtype=torch.bool)
    mask[0, 3] = mask[1, 10] = True
    masked, _ = model.embed_patches(x, mask)
    plain, _ = model.embed_patches(x)
    pos = model.pos_embed[0]
    # Masked: [MASK] + its position embedding; others untouched; cls first.
    torch.testing.assert_close(masked[0, 1 + 3],
                               model.mask_token[0, 0] + pos[1 + 3])
    torch.testing.assert_close(masked[1, 1 + 10],
                               model.mask_token[0, 0] + pos[1 + 10])
    keep = torch.ones(2, 17, dtype=torch.bool)
    keep[0, 4] = keep[1, 11] = False
    torch.testing.assert_close(masked[keep], plain[keep])


def test_bert_replacement_uses_mask_random_or_original_tokens():
    model = build(mask_replacement='bert')
    x = torch.randn(4, 3, 32, 32)
    mask = torch.ones(4, 16, dtype=torch.bool)
    torch.manual_seed(0)
    patches, _ = model.patch_embed(x)
    replaced = model._replace_masked(patches, mask)
    is_mask = (replaced - model.mask_token[0]).abs().amax(-1) < 1e-6
    is_same = (replaced - patches).abs().amax(-1) < 1e-6
    frac_mask = is_mask.float().mean().item()
    assert 0.6 < frac_mask < 0.95
    assert ((~is_mask) & (~is_same)).any()  # some random tokens
    pool = patches.reshape(-1, 32)
    for token in replaced[(~is_mask) & (~is_same)]:
        assert ((pool - token).abs().amax(-1) < 1e-6).any()


def test_errors():
    model = build()
    with pytest.raises(
            ValueError, match='30x30 are not divisible by the '
            'patch size 8x8'):
        model.forward_tokens(torch.randn(1, 3, 30, 30))
    with pytest.raises(ValueError, match=r'mask of shape \(1, 9\)'):
        model.forward_tokens(
            torch.randn(1, 3, 32, 32), mask=torch.zeros(1, 9).bool())
    with pytest.raises(ValueError, match="mask_replacement='mlm'"):
        MSTViT(arch=ARCH, img_size=32, patch_size=8, mask_replacement='mlm')
    teacher = MSTViT(
        arch=ARCH, img_size=32, patch_size=8, with_mask_token=False)
    with pytest.raises(ValueError, match='with_mask_token=False'):
        teacher.forward_tokens(
            torch.randn(1, 3, 32, 32), mask=torch.zeros(1, 16).bool())


def test_cls_attention_stays_float32_under_bf16_autocast():
    """The masker ranks patches by this attention: under bf16 autocast it
    must be the float32 result to the bit, not a bf16 one with ties."""
    from mst_mm.models.utils import query_attention
    torch.manual_seed(0)
    qkv = torch.nn.Linear(32, 96)
    tokens = torch.randn(2, 50, 32)
    expected = query_attention(tokens[:, 0], tokens, qkv, 4, 8**-0.5)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        # what a bf16 einsum would give: visibly different
        rough = torch.einsum('bd,bnd->bn', tokens[:, 0], tokens)
        assert rough.dtype == torch.bfloat16
        got = query_attention(tokens[:, 0], tokens, qkv, 4, 8**-0.5)
    assert got.dtype == torch.float32
    assert torch.equal(got, expected)
