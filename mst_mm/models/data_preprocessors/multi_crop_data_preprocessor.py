from typing import List, Optional, Sequence

import torch
from mmpretrain.models.utils import SelfSupDataPreprocessor
from mmpretrain.registry import MODELS, TRANSFORMS

from ..utils import batched_photometric as F

# The CPU transforms this preprocessor reproduces on the device.
SUPPORTED = ('RandomApply', 'ColorJitter', 'RandomGrayscale', 'GaussianBlur',
             'Solarize')


@MODELS.register_module()
class MultiCropDataPreprocessor(SelfSupDataPreprocessor):
    """Multi-crop photometric augmentation on the device, then
    normalisation.

    The fast input path: the data-loader workers only decode, crop and flip
    (uint8 crops at their final size); this preprocessor applies the views'
    photometric transforms batched on the device, every sample with its own
    random parameters drawn from the distributions of the mmpretrain/mmcv
    CPU transforms configured in ``transforms``:

    - ``ColorJitter`` (usually inside ``RandomApply``): brightness, contrast,
      saturation and hue factors uniform in the transform's ranges, applied
      in a random order per sample (as torchvision and mmpretrain);
    - ``RandomGrayscale`` (``keep_channels=True``): the channels weighted by
      ``channel_weights`` in their stored order, as mmcv does;
    - ``GaussianBlur``: mmpretrain's magnitude rule (``magnitude_std='inf'``
      draws sigma uniformly from ``magnitude_range``), or a fixed ``radius``
      (sigma); the kernel reaches 3 sigma of the largest possible sigma;
    - ``Solarize``: values >= ``thr`` inverted.

    Each transform applies with its probability (``prob``), independently
    per sample. Training batches only; at test time this is the plain
    :class:`SelfSupDataPreprocessor`.

    Args:
        num_views (Sequence[int]): views per entry of ``transforms``, as
            ``MultiView``'s ``num_views``: the inputs are ``sum(num_views)``
            tensors in this order.
        transforms (Sequence[Sequence[dict]]): for each view group, its
            photometric transforms as the CPU pipeline's config dicts, in
            the order they apply.
        channel_order (str): channel order of the loaded images, 'bgr' as
            mmcv's ``LoadImageFromFile`` gives (the CPU transforms assume
            it). The augmentation runs before ``to_rgb``.
        **kwargs: :class:`SelfSupDataPreprocessor`'s (mean, std, to_rgb...).

    Inputs: ``data['inputs']``, a list of ``sum(num_views)`` (B, 3, H, W)
    tensors (uint8 or float in [0, 255]; views of one group share H, W).
    Outputs: the list of normalised float views.
    """

    def __init__(self,
                 num_views: Sequence[int],
                 transforms: Sequence[Sequence[dict]],
                 channel_order: str = 'bgr',
                 **kwargs):
        super().__init__(**kwargs)
        if len(num_views) != len(transforms):
            raise ValueError(
                f'MultiCropDataPreprocessor: num_views {list(num_views)} '
                f'has {len(num_views)} entries but transforms has '
                f'{len(transforms)} view groups; one number per group.')
        F._rgb_index(channel_order)  # validates
        self.channel_order = channel_order
        self.num_views = [int(n) for n in num_views]
        self.view_ops = [[self._parse(cfg, f'transforms[{i}]') for cfg in t]
                         for i, t in enumerate(transforms)]

    # ----------------------------------------------------------- config ----
    def _parse(self, cfg: dict, where: str, prob: float = 1.) -> dict:
        """A transform's config dict -> an op dict (kind, prob, params),
        built by mmpretrain's registry so the values are validated and
        interpreted exactly as the CPU pipeline does."""
        kind = cfg.get('type') if isinstance(cfg, dict) else None
        if kind not in SUPPORTED:
            raise ValueError(
                f'MultiCropDataPreprocessor: {where} has transform '
                f'{kind!r}; the device applies only {", ".join(SUPPORTED)} '
                '(geometric transforms belong to the data pipeline).')
        # In mmpretrain's scope (RandomApply builds its inner transforms).
        t = TRANSFORMS.build(dict(cfg, _scope_='mmpretrain'))
        if kind == 'RandomApply':
            if len(cfg['transforms']) != 1:
                raise ValueError(
                    f'MultiCropDataPreprocessor: {where} is a RandomApply of '
                    f'{len(cfg["transforms"])} transforms; the device '
                    'supports one transform per RandomApply.')
            return self._parse(cfg['transforms'][0], where,
                               prob * float(t.prob))
        if kind == 'ColorJitter':
            return dict(
                kind='jitter',
                prob=prob,
                ranges=[t.brightness, t.contrast, t.saturation, t.hue])
        if kind == 'RandomGrayscale':
            if not t.keep_channels or t.color_format == 'hsv' or len(
                    t.channel_weights) != 3:
                raise ValueError(
                    f'MultiCropDataPreprocessor: {where} RandomGrayscale '
                    'needs keep_channels=True, color_format bgr/rgb and 3 '
                    f'channel_weights, got keep_channels={t.keep_channels}, '
                    f'color_format={t.color_format!r}, '
                    f'channel_weights={t.channel_weights}.')
            return dict(
                kind='gray',
                prob=prob * float(t.prob),
                weights=tuple(float(w) for w in t.channel_weights))
        # GaussianBlur (radius = sigma) and Solarize (thr): a fixed value or
        # mmpretrain's magnitude rule.
        value = t.radius if kind == 'GaussianBlur' else t.thr
        magnitude = None if value is not None else dict(
            level=float(t.magnitude_level),
            std=t.magnitude_std,
            total=float(t.total_level),
            range=tuple(float(v) for v in t.magnitude_range))
        return dict(
            kind='blur' if kind == 'GaussianBlur' else 'solarize',
            prob=prob * float(t.prob),
            value=None if value is None else float(value),
            magnitude=magnitude)

    # ------------------------------------------------------- parameters ----
    @staticmethod
    def _magnitude(op: dict, n: int, device) -> torch.Tensor:
        """mmpretrain's ``BaseAugTransform.random_magnitude``, per sample."""
        if op['value'] is not None:
            return torch.full((n, ), op['value'], device=device)
        m = op['magnitude']
        level = torch.full((n, ), m['level'], device=device)
        if m['std'] == 'inf':
            level = torch.rand(n, device=device) * m['level']
        elif m['std'] > 0:
            level = (level + m['std'] * torch.randn(n, device=device)).clamp(
                0, m['total'])
        low, high = m['range']
        return level / m['total'] * (high - low) + low

    def sample_params(self,
                      ops: List[dict],
                      n: int,
                      device=None) -> List[dict]:
        """Random parameters of ``ops`` for ``n`` samples: per op a dict
        with ``applied`` (n, ) bool and, for the jitter, ``order`` (n, 4)
        (a permutation of brightness, contrast, saturation, hue per sample)
        and ``factors`` (4 tensors (n, ) or None); ``sigma`` for the blur,
        ``thr`` for solarize."""
        params = []
        for op in ops:
            p = dict(applied=torch.rand(n, device=device) < op['prob'])
            if op['kind'] == 'jitter':
                p['order'] = torch.rand(n, 4, device=device).argsort(dim=1)
                p['factors'] = [
                    None if r is None else torch.empty(
                        n, device=device).uniform_(r[0], r[1])
                    for r in op['ranges']
                ]
            elif op['kind'] == 'blur':
                p['sigma'] = self._magnitude(op, n, device)
            elif op['kind'] == 'solarize':
                p['thr'] = self._magnitude(op, n, device)
            params.append(p)
        return params

    # -------------------------------------------------------- the images ----
    def _jitter(self, imgs, order, factors):
        adjust = (F.adjust_brightness,
                  lambda x, f: F.adjust_contrast(x, f, self.channel_order),
                  lambda x, f: F.adjust_saturation(x, f, self.channel_order),
                  lambda x, f: F.adjust_hue(x, f, self.channel_order))
        for step in range(4):
            for which, fn in enumerate(adjust):
                if factors[which] is None:
                    continue
                idx = (order[:, step] == which).nonzero().squeeze(1)
                if idx.numel():
                    imgs[idx] = fn(imgs[idx], factors[which][idx])
        return imgs

    def apply_ops(self, ops: List[dict], params: List[dict],
                  imgs: torch.Tensor) -> torch.Tensor:
        """``ops`` with ``params`` (from :meth:`sample_params`) on ``imgs``
        (N, 3, H, W) float in [0, 255], stored channel order; modified in
        place and returned."""
        for op, p in zip(ops, params):
            idx = p['applied'].nonzero().squeeze(1)
            if not idx.numel():
                continue
            sub = imgs[idx]
            if op['kind'] == 'jitter':
                sub = self._jitter(
                    sub, p['order'][idx],
                    [f if f is None else f[idx] for f in p['factors']])
            elif op['kind'] == 'gray':
                sub = F.grayscale(sub, op['weights'])
            elif op['kind'] == 'blur':
                sub = F.gaussian_blur(
                    sub, p['sigma'][idx], radius=self._blur_radius(op))
            else:
                sub = F.solarize(sub, p['thr'][idx])
            imgs[idx] = sub
        return imgs

    @staticmethod
    def _blur_radius(op) -> int:
        """3 sigma of the largest sigma the op can draw: one kernel size per
        op, whatever this batch drew."""
        if op['value'] is not None:
            largest = op['value']
        else:
            largest = max(op['magnitude']['range'])
        return max(1, int(-(-3 * largest // 1)))

    def augment(self, views: List[torch.Tensor]) -> List[torch.Tensor]:
        """The photometric augmentation of every view: a list of
        ``sum(num_views)`` (B, 3, H, W) tensors -> the same, float in
        [0, 255]. The views of a group are augmented as one batch."""
        if len(views) != sum(self.num_views):
            raise ValueError(
                f'MultiCropDataPreprocessor: got {len(views)} views per '
                f'image, but num_views {self.num_views} configures '
                f'{sum(self.num_views)}; the pipeline\'s MultiView and the '
                "preprocessor's num_views must agree.")
        out, start = [], 0
        for num, ops in zip(self.num_views, self.view_ops):
            group = views[start:start + num]
            shapes = {tuple(v.shape[1:]) for v in group}
            if len(shapes) > 1:
                raise ValueError(
                    f'MultiCropDataPreprocessor: views {start}-'
                    f'{start + num - 1} form one group (num_views '
                    f'{self.num_views}) but have different shapes '
                    f'{sorted(shapes)}; a group shares its crop size.')
            batch = torch.cat([v.float() for v in group])
            batch = self.apply_ops(
                ops, self.sample_params(ops, len(batch), batch.device), batch)
            out.extend(batch.split([len(v) for v in group]))
            start += num
        return out

    def forward(self, data: dict, training: bool = False) -> dict:
        """``training``: augment the views (on the model's device), then
        channel conversion and normalisation as
        :class:`SelfSupDataPreprocessor`."""
        if training:
            data = self.cast_data(data)
            inputs: Optional[list] = data['inputs']
            if not isinstance(inputs, (list, tuple)):
                raise TypeError(
                    'MultiCropDataPreprocessor: training inputs must be the '
                    "list of views MultiView + PackInputs give, got "
                    f'{type(inputs).__name__}.')
            data = dict(data, inputs=self.augment(list(inputs)))
        return super().forward(data, training)
