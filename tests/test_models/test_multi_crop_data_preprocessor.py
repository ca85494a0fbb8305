"""MultiCropDataPreprocessor: the device-side photometric augmentation.

Its random parameters are checked statistically against the CPU pipeline's
transforms (configs/pretrain/_base_/datasets/mst_multicrop.py), and its images
against mmcv/Pillow (the CPU implementation) for fixed parameters.
"""
import os.path as osp

import mmcv
import numpy as np
import pytest
import torch
from mmcv.transforms import RandomGrayscale
from mmengine.config import Config
from mmpretrain.models.utils import SelfSupDataPreprocessor
from mmpretrain.registry import TRANSFORMS
from PIL import Image, ImageFilter

from mst_mm.models.data_preprocessors import MultiCropDataPreprocessor
from mst_mm.models.utils import batched_photometric as F

GEOMETRIC = ('RandomResizedCrop', 'RandomFlip')
N = 4000  # samples per statistical check
MEAN = [123.675, 116.28, 103.53]
STD = [58.395, 57.12, 57.375]


@pytest.fixture(scope='module')
def base_cfg(repo_root):
    return Config.fromfile(
        osp.join(repo_root, 'configs', 'pretrain', '_base_', 'datasets',
                 'mst_multicrop.py'))


def photometric(view):
    return [t for t in view if t['type'] not in GEOMETRIC]


@pytest.fixture(scope='module')
def pre(base_cfg):
    """The preprocessor configured with the CPU views' own transforms."""
    return MultiCropDataPreprocessor(
        num_views=[1, 1, 8],
        transforms=[
            photometric(base_cfg.global_view_1),
            photometric(base_cfg.global_view_2),
            photometric(base_cfg.local_view)
        ],
        mean=MEAN,
        std=STD,
        to_rgb=True)


def within_binomial(hits, n, p, sigmas=5):
    """``hits`` of ``n`` is consistent with probability ``p``."""
    return abs(hits - n * p) <= sigmas * np.sqrt(n * p * (1 - p)) + 1e-9


def sampled(pre, group, seed=0):
    torch.manual_seed(seed)
    ops = pre.view_ops[group]
    return {op['kind']: p for op, p in zip(ops, pre.sample_params(ops, N))}


# ------------------------------------------------- parameter statistics ----
@pytest.mark.parametrize('group,blur,solarize', [(0, 1.0, 0.0), (1, 0.1, 0.2),
                                                 (2, 0.5, None)])
def test_probabilities_per_view(pre, group, blur, solarize):
    params = sampled(pre, group)
    assert within_binomial(int(params['jitter']['applied'].sum()), N, 0.8)
    assert within_binomial(int(params['gray']['applied'].sum()), N, 0.2)
    assert within_binomial(int(params['blur']['applied'].sum()), N, blur)
    if solarize is None:  # the local view has no Solarize
        assert 'solarize' not in params
    else:
        hits = int(params['solarize']['applied'].sum())
        assert within_binomial(hits, N, solarize)
        assert torch.all(params['solarize']['thr'] == 128)
    # The draws are independent of each other.
    both = params['jitter']['applied'] & params['gray']['applied']
    assert within_binomial(int(both.sum()), N, 0.8 * 0.2)


def test_jitter_factors_match_mmpretrain_colorjitter(pre, base_cfg):
    factors = sampled(pre, 0)['jitter']['factors']
    cpu = TRANSFORMS.build(base_cfg.color_jitter.transforms[0])
    np.random.seed(0)
    draws = np.array([cpu._rand_params.__wrapped__(cpu)[1:] for _ in range(N)])
    for i, (name, (low, high)) in enumerate(
            zip(('brightness', 'contrast', 'saturation', 'hue'),
                [(0.6, 1.4), (0.6, 1.4), (0.8, 1.2), (-0.1, 0.1)])):
        f = factors[i].numpy()
        assert (getattr(cpu,
                        name) == (pytest.approx(low), pytest.approx(high)))
        assert f.min() >= low and f.max() <= high, name
        # Uniform: every quarter of the range holds a quarter of the draws,
        # as the CPU transform's draws do.
        for q in range(4):
            edges = low + (high - low) * q / 4, low + (high - low) * (q +
                                                                      1) / 4
            for x in (f, draws[:, i]):
                inside = int(((x >= edges[0]) & (x < edges[1])).sum())
                assert within_binomial(inside, N, 0.25), (name, q)


def test_jitter_order_is_a_uniform_random_permutation(pre):
    order = sampled(pre, 2)['jitter']['order']
    assert torch.all(order.sort(dim=1).values == torch.arange(4))
    # Each adjustment at each position a quarter of the time, and all 24
    # orders occur.
    for step in range(4):
        for which in range(4):
            assert within_binomial(
                int((order[:, step] == which).sum()), N, 0.25)
    assert len({tuple(o) for o in order.tolist()}) == 24


def test_blur_sigma_matches_mmpretrain_gaussianblur(pre, base_cfg):
    sigma = sampled(pre, 1)['blur']['sigma'].numpy()
    cpu = TRANSFORMS.build(base_cfg.global_view_1[-2])
    assert cpu.magnitude_std == 'inf'
    np.random.seed(0)
    draws = np.array([cpu.random_magnitude.__wrapped__(cpu) for _ in range(N)])
    for x in (sigma, draws):
        assert x.min() >= 0.1 and x.max() <= 2.0
        assert x.min() < 0.11 and x.max() > 1.99
        for q in range(4):  # uniform in (0.1, 2.0)
            low = 0.1 + 1.9 * q / 4
            inside = int(((x >= low) & (x < low + 1.9 / 4)).sum())
            assert within_binomial(inside, N, 0.25)
    # The kernel reaches 3 sigma of the largest sigma.
    blur = [op for op in pre.view_ops[1] if op['kind'] == 'blur'][0]
    assert pre._blur_radius(blur) == 6


# ------------------------------------------- images against mmcv/Pillow ----
@pytest.fixture(scope='module')
def image():
    """A 40 x 48 BGR uint8 image with colour gradients and noise."""
    rng = np.random.RandomState(0)
    y, x = np.mgrid[0:40, 0:48]
    img = np.stack([(x * 5) % 256, (y * 6) % 256, ((x + y) * 3) % 256], -1)
    img = img + rng.randint(-20, 20, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def as_tensor(img):
    return torch.from_numpy(img).permute(2, 0, 1)[None].float()


def as_image(t):
    return t[0].permute(1, 2, 0).numpy()


def assert_close(out, ref, max_diff, mean_diff):
    diff = np.abs(as_image(out) - ref.astype(np.float64))
    assert diff.max() <= max_diff and diff.mean() <= mean_diff, (diff.max(),
                                                                 diff.mean())


@pytest.mark.parametrize('factor', [0.6, 1.4])
def test_brightness_and_contrast_agree_with_mmcv(image, factor):
    f = torch.tensor([factor])
    assert_close(
        F.adjust_brightness(as_tensor(image), f),
        mmcv.adjust_brightness(image, factor, backend='pillow'), 1.0, 0.5)
    assert_close(
        F.adjust_contrast(as_tensor(image), f),
        mmcv.adjust_contrast(image, factor, backend='pillow'), 1.5, 0.6)


@pytest.mark.filterwarnings('ignore:Only use')
@pytest.mark.parametrize('factor', [0.8, 1.2])
def test_saturation_agrees_with_mmcv(image, factor):
    assert_close(
        F.adjust_saturation(as_tensor(image), torch.tensor([factor])),
        mmcv.adjust_color(image, factor, backend='pillow'), 1.5, 0.6)


@pytest.mark.parametrize('factor', [25 / 255, -25 / 255, 0.1])
def test_hue_agrees_with_mmcv(image, factor):
    # Pillow's HSV is 8 bit: a round trip alone moves some pixels by 5.
    assert_close(
        F.adjust_hue(as_tensor(image), torch.tensor([factor])),
        mmcv.adjust_hue(image, factor, backend='pillow'), 8, 1.0)
    # The rotation is the right way round: a large shift would differ.
    diff = np.abs(
        as_image(F.adjust_hue(as_tensor(image), torch.tensor([-factor]))) -
        mmcv.adjust_hue(image, factor, backend='pillow'))
    assert diff.mean() > 5


def test_grayscale_agrees_with_mmcv_channel_weights(image, base_cfg):
    weights = base_cfg.grayscale.channel_weights
    ref = RandomGrayscale(
        prob=1., keep_channels=True,
        channel_weights=weights)(dict(img=image.copy()))['img']
    assert_close(F.grayscale(as_tensor(image), weights), ref, 1.0, 0.6)
    # mmcv weights the stored (BGR) channels: pure red weighs 0.2989.
    red = torch.zeros(1, 3, 2, 2)
    red[:, 2] = 255
    out = F.grayscale(red, weights)
    assert torch.allclose(out, torch.full_like(out, 255 * 0.2989 / 0.9999))


@pytest.mark.parametrize('sigma', [0.5, 1.0, 2.0])
def test_blur_agrees_with_pillow(image, sigma):
    ref = np.array(
        Image.fromarray(image).filter(ImageFilter.GaussianBlur(radius=sigma)))
    out = F.gaussian_blur(as_tensor(image), torch.tensor([sigma]), radius=6)
    diff = np.abs(as_image(out) - ref.astype(np.float64))
    # Pillow approximates the Gaussian by box blurs and treats its last
    # rows and columns differently; inside, they agree to 3 grey levels.
    border = int(2 * sigma) + 1
    inside = diff[border:-border, border:-border]
    assert inside.max() <= 3 and diff.mean() <= 1.0
    # Not the identity: blurring changed the image.
    assert np.abs(image.astype(np.float64) - ref).mean() > 3


def test_solarize_agrees_with_mmcv(image):
    out = F.solarize(as_tensor(image), torch.tensor([128.]))
    assert np.array_equal(as_image(out), mmcv.solarize(image, 128))


@pytest.mark.filterwarnings('ignore:Only use')
def test_jitter_applies_the_sampled_order(pre, image):
    """One sample with every adjustment, in a fixed order, equals mmcv's
    functions called in that order."""
    ops = [op for op in pre.view_ops[0] if op['kind'] == 'jitter']
    factors = [1.3, 0.7, 1.2, 25 / 255]
    calls = [
        lambda x: mmcv.adjust_brightness(x, factors[0], backend='pillow'),
        lambda x: mmcv.adjust_contrast(x, factors[1], backend='pillow'),
        lambda x: mmcv.adjust_color(x, factors[2], backend='pillow'),
        lambda x: mmcv.adjust_hue(x, factors[3], backend='pillow')
    ]
    for order in ([0, 1, 2, 3], [3, 2, 1, 0]):
        params = [
            dict(
                applied=torch.tensor([True]),
                order=torch.tensor([order]),
                factors=[torch.tensor([f]) for f in factors])
        ]
        out = pre.apply_ops(ops, params, as_tensor(image))
        ref = image
        for which in order:
            ref = calls[which](ref)
        assert_close(out, ref, 8, 1.5)


# ------------------------------------------------------------ forward ----
def test_forward_augments_and_normalises_every_view(pre):
    torch.manual_seed(0)
    views = [torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)] * 2
    views += [torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8)] * 8
    out = pre(dict(inputs=views, data_samples=None), True)['inputs']
    assert [tuple(v.shape) for v in out] == [tuple(v.shape) for v in views]
    plain = SelfSupDataPreprocessor(mean=MEAN, std=STD, to_rgb=True)
    reference = plain(dict(inputs=views, data_samples=None))['inputs']
    # The first global view is always blurred: it changed.
    assert not torch.allclose(out[0], reference[0])
    # Without training it is SelfSupDataPreprocessor.
    test_time = pre(dict(inputs=views, data_samples=None), False)['inputs']
    assert all(torch.equal(a, b) for a, b in zip(test_time, reference))


def test_forward_without_transforms_equals_selfsup_preprocessor():
    pre = MultiCropDataPreprocessor(
        num_views=[2], transforms=[[]], mean=MEAN, std=STD, to_rgb=True)
    views = [torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)] * 2
    plain = SelfSupDataPreprocessor(mean=MEAN, std=STD, to_rgb=True)
    out = pre(dict(inputs=views, data_samples=None), True)['inputs']
    ref = plain(dict(inputs=views, data_samples=None), True)['inputs']
    assert all(torch.equal(a, b) for a, b in zip(out, ref))


def test_wrong_number_of_views_is_refused(pre):
    views = [torch.zeros(1, 3, 8, 8, dtype=torch.uint8)] * 4
    with pytest.raises(ValueError, match=r'got 4 views .* configures 10'):
        pre(dict(inputs=views, data_samples=None), True)


def test_views_of_different_sizes_in_one_group_are_refused():
    pre = MultiCropDataPreprocessor(num_views=[2], transforms=[[]])
    views = [torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 4, 4)]
    with pytest.raises(ValueError, match=r'views 0-1 .* \[\(3, 4, 4\), '):
        pre.augment(views)


def test_unsupported_transforms_are_refused():
    with pytest.raises(ValueError, match="'RandomResizedCrop'.*geometric"):
        MultiCropDataPreprocessor(
            num_views=[1],
            transforms=[[dict(type='RandomResizedCrop', scale=8)]])
    with pytest.raises(ValueError, match='num_views \\[1, 1\\] has 2'):
        MultiCropDataPreprocessor(num_views=[1, 1], transforms=[[]])
    with pytest.raises(ValueError, match='keep_channels=True'):
        MultiCropDataPreprocessor(
            num_views=[1],
            transforms=[[dict(type='RandomGrayscale', keep_channels=False)]])


def test_augment_applies_each_op_at_its_rate():
    """End to end through augment(): the share of images a transform
    changed matches its probability, per view group."""
    pre = MultiCropDataPreprocessor(
        num_views=[1, 2],
        transforms=[[
            dict(type='RandomGrayscale', prob=0.2, keep_channels=True)
        ], [dict(type='Solarize', thr=128, prob=0.7)]])
    torch.manual_seed(0)
    n = 2000
    colour = torch.tensor([200., 40., 90.]).view(1, 3, 1, 1)
    views = [colour.expand(n, 3, 2, 2).clone() for _ in range(3)]
    out = pre.augment(views)
    grey = (out[0][:, 0] == out[0][:, 1]).all(dim=(1, 2))
    assert within_binomial(int(grey.sum()), n, 0.2)
    for view in out[1:]:  # 200 >= 128 is inverted to 55
        solarized = view[:, 0, 0, 0] == 55
        assert within_binomial(int(solarized.sum()), n, 0.7)
    # The views of a group draw independently.
    assert not torch.equal(out[1][:, 0, 0, 0], out[2][:, 0, 0, 0])
