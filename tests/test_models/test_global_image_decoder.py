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
