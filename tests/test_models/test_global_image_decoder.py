import pytest
import torch

from mst_mm.models import GlobalImageDecoder


@pytest.mark.parametrize('patch_size,channels', [(16, (32, 16, 16, 8)),
                                                 (8, (32, 16, 8))])
@pytest.mark.parametrize('img_size', [224, 96])
def test_decoder_restores_full_resolution(patch_size, channels, img_size):
    decoder = GlobalImageDecoder(
        in_channels=24, patch_size=patch_size, channels=channels)
    grid = img_size // patch_size
    out = decoder(torch.randn(2, 24, grid, grid))
    assert out.shape == (2, 3, img_size, img_size)
    # log2(p) Conv-BN-ReLU stages, each followed by a 2x up-sampling.
    assert len(decoder.stages) == len(channels)


def test_decoder_bn_statistics_follow_its_inputs():
    decoder = GlobalImageDecoder(in_channels=8, patch_size=4, channels=(8, 8))
    bn = decoder.stages[0][0].bn
    before = bn.running_mean.clone()
    decoder(torch.randn(4, 8, 3, 3) + 5)
    assert not torch.allclose(before, bn.running_mean)


def test_decoder_rejects_bad_settings():
    with pytest.raises(ValueError, match='patch_size=12 must be a power'):
        GlobalImageDecoder(in_channels=8, patch_size=12, channels=(8, 8))
    with pytest.raises(ValueError, match=r'needs log2\(16\) = 4'):
        GlobalImageDecoder(in_channels=8, patch_size=16, channels=(8, 8))


def test_channels_last_decoder_computes_the_same_image_and_gradients():
    """The layout lever changes memory format only: same weights in, same
    restored image and weight gradients out, and the layout survives
    initialisation and checkpoint loading."""
    torch.manual_seed(0)
    plain = GlobalImageDecoder(in_channels=8, patch_size=4, channels=(8, 8))
    plain.init_weights()
    fast = GlobalImageDecoder(
        in_channels=8, patch_size=4, channels=(8, 8), channels_last=True)
    fast.init_weights()
    fast.load_state_dict(plain.state_dict())
    weight = fast.stages[0][0].conv.weight
    assert weight.is_contiguous(memory_format=torch.channels_last)
    assert not weight.is_contiguous()

    x = torch.randn(2, 8, 5, 5)
    out_plain, out_fast = plain(x), fast(x)
    assert out_fast.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out_fast, out_plain, rtol=1e-5, atol=1e-5)
    out_plain.abs().sum().backward()
    out_fast.abs().sum().backward()
    torch.testing.assert_close(
        fast.out_conv.weight.grad,
        plain.out_conv.weight.grad,
        rtol=1e-4,
        atol=1e-4)


def test_token_maps_already_run_the_decoder_channels_last():
    """Why the channels-last lever changes little: a backbone's map is its
    (B, L, C) tokens transposed, NHWC in memory, and the convolutions keep
    that layout with or without the option."""
    decoder = GlobalImageDecoder(in_channels=8, patch_size=4, channels=(8, 8))
    tokens = torch.randn(2, 25, 8)
    featmap = tokens.transpose(1, 2).reshape(2, 8, 5, 5)
    assert featmap.is_contiguous(memory_format=torch.channels_last)
    out = decoder.stages[0](featmap)
    assert out.is_contiguous(memory_format=torch.channels_last)
