"""Photometric image operations on a batch, with one parameter per sample.

The batched counterparts of the mmcv/Pillow functions behind mmpretrain's
``ColorJitter``, ``RandomGrayscale``, ``GaussianBlur`` and ``Solarize``, for
:class:`MultiCropDataPreprocessor`. Every function takes ``imgs`` of shape
(N, 3, H, W), float, values in [0, 255], channels in the order the loader
gives them (``channel_order``: 'bgr' for mmcv's ``LoadImageFromFile``, as
mmcv's functions assume), and a (N, ) tensor of per-sample parameters. The
result is float in [0, 255] (no rounding to integers between operations,
unlike the uint8 CPU path; the difference is below one grey level per
operation).
"""
import math

import torch

# ITU-R 601-2 luma, as Pillow's convert('L') (mmcv's pillow backend).
_LUMA_RGB = (0.299, 0.587, 0.114)


def _rgb_index(channel_order):
    if channel_order == 'bgr':
        return 2, 1, 0
    if channel_order == 'rgb':
        return 0, 1, 2
    raise ValueError(f"channel_order must be 'bgr' or 'rgb', got "
                     f'{channel_order!r}')


def luma(imgs, channel_order='bgr'):
    """(N, 3, H, W) -> (N, 1, H, W): Pillow's 'L' (0.299 R + 0.587 G +
    0.114 B)."""
    r, g, b = _rgb_index(channel_order)
    return (_LUMA_RGB[0] * imgs[:, r:r + 1] + _LUMA_RGB[1] * imgs[:, g:g + 1] +
            _LUMA_RGB[2] * imgs[:, b:b + 1])


def _blend(imgs, degenerate, factor):
    """Pillow's ``ImageEnhance``: degenerate + factor * (imgs -
    degenerate), clipped to [0, 255]."""
    factor = factor.view(-1, 1, 1, 1).to(imgs.dtype)
    return (degenerate + factor * (imgs - degenerate)).clamp_(0, 255)


def adjust_brightness(imgs, factor):
    """``mmcv.adjust_brightness`` (Pillow ``Brightness``): towards black."""
    return _blend(imgs, torch.zeros_like(imgs), factor)


def adjust_contrast(imgs, factor, channel_order='bgr'):
    """``mmcv.adjust_contrast`` (Pillow ``Contrast``): towards the mean
    grey level of each image."""
    mean = luma(imgs, channel_order).mean(dim=(1, 2, 3), keepdim=True)
    return _blend(imgs, mean.expand_as(imgs), factor)


def adjust_saturation(imgs, factor, channel_order='bgr'):
    """``mmcv.adjust_color`` (Pillow ``Color``): towards the grey image."""
    return _blend(imgs, luma(imgs, channel_order).expand_as(imgs), factor)


def adjust_hue(imgs, factor, channel_order='bgr'):
    """``mmcv.adjust_hue``: the hue (HSV) rotated by ``factor`` turns, in
    [-0.5, 0.5]. (Pillow quantises the hue to 1/255 turn; this does not.)"""
    r, g, b = _rgb_index(channel_order)
    rgb = imgs[:, [r, g, b]] / 255
    maxc, _ = rgb.max(dim=1)
    minc, _ = rgb.min(dim=1)
    delta = maxc - minc
    value = maxc
    sat = torch.where(maxc > 0, delta / maxc.clamp(min=1e-12),
                      torch.zeros_like(maxc))
    safe = torch.where(delta > 0, delta, torch.ones_like(delta))
    red, green, blue = rgb.unbind(dim=1)
    hue = torch.where(
        maxc == red, (green - blue) / safe,
        torch.where(maxc == green, 2 + (blue - red) / safe,
                    4 + (red - green) / safe))
    hue = torch.where(delta > 0, hue / 6, torch.zeros_like(hue))
    hue = (hue + factor.view(-1, 1, 1).to(hue.dtype)) % 1.0
    # HSV -> RGB: f(n) = v - v s max(0, min(k, 4 - k, 1)), k = (n + 6h) % 6.
    out = []
    for n in (5, 3, 1):
        k = (n + hue * 6) % 6
        weight = torch.minimum(torch.minimum(k, 4 - k),
                               torch.ones_like(k)).clamp(min=0)
        out.append(value - value * sat * weight)
    rgb = torch.stack(out, dim=1) * 255
    return rgb[:, [(r, g, b).index(i) for i in range(3)]].clamp_(0, 255)


def grayscale(imgs, channel_weights):
    """``mmcv.RandomGrayscale(keep_channels=True)``: the channels weighted
    by ``channel_weights`` (normalised to sum 1, applied to the channels in
    their stored order, as mmcv does) and repeated 3 times."""
    weights = torch.as_tensor(
        channel_weights, dtype=imgs.dtype, device=imgs.device)
    weights = (weights / weights.sum()).view(1, -1, 1, 1)
    return (imgs * weights).sum(dim=1, keepdim=True).expand_as(imgs).clone()


def gaussian_blur(imgs, sigma, radius=None):
    """Separable Gaussian blur with one standard deviation per sample, edges
    replicated (Pillow's ``GaussianBlur(radius=sigma)`` approximates the same
    Gaussian by box blurs). The kernel reaches ``radius`` pixels (default
    ceil(3 max(sigma)))."""
    sigma = sigma.to(imgs.dtype).view(-1, 1)
    if radius is None:
        radius = int(math.ceil(3 * float(sigma.max())))
    radius = max(int(radius), 1)
    taps = torch.arange(
        -radius, radius + 1, dtype=imgs.dtype, device=imgs.device)
    kernel = torch.exp(-0.5 * (taps.view(1, -1) / sigma.clamp(min=1e-6))**2)
    kernel = kernel / kernel.sum(dim=1, keepdim=True)  # (N, 2 radius + 1)
    height, width = imgs.shape[-2:]
    # Replicate padding reaches any radius (torch's needs radius < size).
    rows = torch.arange(-radius, height + radius, device=imgs.device)
    cols = torch.arange(-radius, width + radius, device=imgs.device)
    padded = imgs[:, :, rows.clamp(0, height - 1)]
    out = torch.zeros_like(padded[..., :width])
    padded = padded[..., cols.clamp(0, width - 1)]
    for i in range(2 * radius + 1):
        out += kernel[:, i].view(-1, 1, 1, 1) * padded[..., i:i + width]
    result = torch.zeros_like(imgs)
    for i in range(2 * radius + 1):
        result += kernel[:, i].view(-1, 1, 1, 1) * out[:, :, i:i + height]
    return result


def solarize(imgs, thr):
    """``mmcv.solarize``: values >= ``thr`` (per sample) become 255 -
    value."""
    thr = torch.as_tensor(thr, dtype=imgs.dtype, device=imgs.device)
    thr = thr.view(-1, 1, 1, 1) if thr.dim() else thr
    return torch.where(imgs < thr, imgs, 255 - imgs)
