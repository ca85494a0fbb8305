"""Pictures of what MST does: the paper's Figure 2 (attention-guided vs
random mask), Figure 3 / Appendix L (cls attention maps, here per head), the
global image decoder's restorations (Eq. 9) and the logged training curves.

Every function returns a dict whose ``'picture'`` is an RGB uint8 array
(H, W, 3), ready for a PNG file or ``runner.visualizer.add_image``, next to
the values it draws, so that tests and users can check the picture against
the model. The image panels are pasted pixel for pixel (matplotlib's
``figimage``, no resampling) into a figure whose size in pixels follows from
the number of rows and columns only, so the pictures have deterministic
sizes and a masked patch is exactly a block of pixels; matplotlib draws the
titles and colour bars. No pyplot state is used (safe in hooks and threads).
"""
import contextlib
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from mmengine.model import is_model_wrapper

from ..models.maskers import RandomMasker

DPI = 100
PANEL = 192  # px, width of an image panel (masks, restoration)
HEAD_PANEL = 128  # px, width of a panel of the per-head picture
MARGIN = 10
GAP = 16  # between panels of a row
TITLE_H = 40  # column titles, up to two lines
CAPTION_H = 18  # one line under each row of panels
ROW_LABEL_W = 22  # rotated row names of the per-head picture
GROUP_GAP = 10  # between the images of the per-head picture
COLORBAR_W = 10
COLORBAR_SLOT = 6 + COLORBAR_W + 48  # pad, bar, tick labels
# Masked patches: a grey cell with darker diagonal hatching.
MASK_FILL = (160, 160, 160)
MASK_HATCH = (96, 96, 96)
HEAT_CMAP = 'inferno'
HEAT_ALPHA = 0.6  # weight of the heat map over the image in (b)

# Curves of `training_curves`: (title, keys, y label).
CURVE_PANELS = (
    ('loss_distill = lambda1 * CE (Eq. 2)', ('loss_distill', ), 'nats'),
    ('distill_kl = KL(teacher || student) = CE - teacher entropy', ('kl', ),
     'nats'),
    ('loss_restore = lambda2 * L1 (Eq. 9)', ('loss_restore', ), ''),
    ('teacher entropies (collapse signals)',
     ('teacher_entropy', 'teacher_batch_entropy'), 'nats'),
    ('mask_ratio (masked fraction of the global views)', ('mask_ratio', ),
     ''),
    ('loss (total)', ('loss', ), ''),
)
CURVES_FIGSIZE = (12., 6.5)  # inches at DPI: 1200 x 650 pixels


# --------------------------------------------------------------- models ----
def unwrap(model: nn.Module) -> nn.Module:
    return model.module if is_model_wrapper(model) else model


def teacher_backbone(model: nn.Module) -> nn.Module:
    """The EMA teacher's backbone of an MST model (the one whose attention
    guides the mask), or the backbone of a model without a teacher."""
    model = unwrap(model)
    if hasattr(model, 'teacher'):
        return model.teacher.module.backbone
    return model.backbone


def _as_backbone(obj: nn.Module) -> nn.Module:
    obj = unwrap(obj)
    backbone = teacher_backbone(obj) if hasattr(obj, 'backbone') else obj
    if not (hasattr(backbone, 'embed_patches')
            and hasattr(backbone, 'layers')):
        raise TypeError(
            f'expected an MSTViT backbone or a model holding one, got '
            f'{type(backbone).__name__} (it has no embed_patches/layers)')
    return backbone


@contextlib.contextmanager
def evaluating(*modules: nn.Module):
    """Run ``modules`` in eval mode (BN running statistics, no drop path)
    and give every submodule its own ``training`` flag back afterwards."""
    flags = [(m, m.training) for module in modules for m in module.modules()]
    for module in modules:
        module.eval()
    try:
        yield
    finally:
        for m, training in flags:
            m.training = training


def _device(module: nn.Module) -> torch.device:
    param = next(module.parameters(), None)
    return param.device if param is not None else torch.device('cpu')


def patch_grid(backbone: nn.Module, images: torch.Tensor) -> Tuple[int, int]:
    ph, pw = backbone.patch_size
    return images.shape[-2] // ph, images.shape[-1] // pw


@torch.no_grad()
def cls_attention_per_head(backbone: nn.Module,
                           images: torch.Tensor) -> torch.Tensor:
    """Eq. 4 of the last block before the mean over heads.

    Computed like :meth:`MSTViT.cls_attention` (the cls query row only, from
    the block's ``qkv`` weights), so its mean over heads is the attention
    that guides the mask.

    Args:
        backbone (MSTViT): The backbone, in the mode it should run in.
        images (Tensor): Normalised images, (B, 3, H, W).

    Returns:
        Tensor: (B, num_heads, L), float32, on the backbone's device.
    """
    images = images.to(_device(backbone))
    x, _ = backbone.embed_patches(images)
    for layer in backbone.layers[:-1]:
        x = layer(x)
    layer = backbone.layers[-1]
    attn = layer.attn
    h = layer.ln1(x)
    c = backbone.embed_dims
    weight, bias = attn.qkv.weight, attn.qkv.bias
    q = F.linear(h[:, 0], weight[:c], None if bias is None else bias[:c])
    k = F.linear(h, weight[c:2 * c],
                 None if bias is None else bias[c:2 * c])
    b, n = k.shape[:2]
    q = q.reshape(b, attn.num_heads, attn.head_dims).float()
    k = k.reshape(b, n, attn.num_heads, attn.head_dims).float()
    logits = torch.einsum('bhd,bnhd->bhn', q, k) * attn.head_dims**-0.5
    return logits.softmax(dim=-1)[:, :, backbone.num_extra_tokens:]


def denormalise(model: nn.Module, images: torch.Tensor) -> np.ndarray:
    """Undo the model's data preprocessor: normalised (B, 3, H, W) ->
    RGB uint8 (B, H, W, 3), clipped to [0, 255]."""
    pre = unwrap(model).data_preprocessor
    x = images.detach().float().cpu()
    if getattr(pre, '_enable_normalize', False):
        x = x * pre.std.float().cpu() + pre.mean.float().cpu()
    if not getattr(pre, '_channel_conversion', False) and x.shape[1] == 3:
        x = x[:, [2, 1, 0]]  # the inputs stayed BGR, as images are loaded
    x = x.clamp(0, 255).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).numpy()


# ------------------------------------------------------------- drawing ----
class _Sheet:
    """A figure laid out in pixels (origin top-left): images are pasted
    without resampling, text and colour bars are drawn by matplotlib."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = int(width), int(height)
        self.fig = Figure(
            figsize=(self.width / DPI, self.height / DPI),
            dpi=DPI,
            facecolor='white')
        FigureCanvasAgg(self.fig)

    def image(self, rgb: np.ndarray, top: int, left: int) -> None:
        self.fig.figimage(
            rgb,
            xo=left,
            yo=self.height - top - rgb.shape[0],
            origin='upper',
            zorder=1)

    def text(self, x: float, y: float, s: str, **kwargs) -> None:
        kwargs.setdefault('fontsize', 8.5)
        kwargs.setdefault('ha', 'center')
        self.fig.text(x / self.width, 1 - y / self.height, s, **kwargs)

    def colorbar(self, top: int, left: int, height: int, vmin: float,
                 vmax: float) -> None:
        if not vmax > vmin:
            vmax = vmin + 1e-6
        cax = self.fig.add_axes([
            left / self.width, 1 - (top + height) / self.height,
            COLORBAR_W / self.width, height / self.height
        ])
        bar = self.fig.colorbar(
            ScalarMappable(Normalize(vmin, vmax), colormaps[HEAT_CMAP]),
            cax=cax)
        ticks = np.linspace(vmin, vmax, 4)
        bar.set_ticks(ticks)
        labels = bar.ax.set_yticklabels([f'{v:.3g}' for v in ticks])
        # The end labels stay within the bar's height, off the next row.
        labels[0].set_verticalalignment('bottom')
        labels[-1].set_verticalalignment('top')
        bar.ax.tick_params(labelsize=7, length=2, pad=1)

    def render(self) -> np.ndarray:
        self.fig.canvas.draw()
        rgb = np.asarray(self.fig.canvas.buffer_rgba())[..., :3].copy()
        assert rgb.shape[:2] == (self.height, self.width), rgb.shape
        return rgb


def _panel_shape(images: torch.Tensor, width: int) -> Tuple[int, int]:
    h, w = images.shape[-2:]
    return max(1, round(width * h / w)), width


def _resize_rgb(rgb: np.ndarray, shape: Tuple[int, int]) -> np.ndarray:
    """(B, H, W, 3) uint8 -> (B, *shape, 3): pixels shown as blocks when
    enlarged, anti-aliased when reduced."""
    x = torch.from_numpy(rgb).permute(0, 3, 1, 2).float()
    if shape[0] >= x.shape[-2]:
        x = F.interpolate(x, size=shape, mode='nearest')
    else:
        x = F.interpolate(
            x, size=shape, mode='bilinear', align_corners=False,
            antialias=True)
    return x.clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3,
                                                           1).numpy()


def _cell_map(grid: Tuple[int, int],
              shape: Tuple[int, int]) -> Tuple[np.ndarray, np.ndarray]:
    """Patch row of every pixel row and patch column of every pixel column
    of a panel: pixel y lies in patch row floor(y * gh / ph)."""
    rows = np.arange(shape[0]) * grid[0] // shape[0]
    cols = np.arange(shape[1]) * grid[1] // shape[1]
    return rows, cols


def draw_masked_cells(panel: np.ndarray, mask: np.ndarray,
                      grid: Tuple[int, int]) -> np.ndarray:
    """Paint the masked patches of one panel grey with hatching.

    Args:
        panel (ndarray): (h, w, 3) uint8.
        mask (ndarray): (L, ) bool, L = gh * gw in the backbone's order.
        grid (tuple): (gh, gw).
    """
    rows, cols = _cell_map(grid, panel.shape[:2])
    masked = mask.reshape(grid)[rows][:, cols]
    yy, xx = np.mgrid[0:panel.shape[0], 0:panel.shape[1]]
    hatch = (yy + xx) % 8 < 2
    out = panel.copy()
    out[masked] = MASK_FILL
    out[masked & hatch] = MASK_HATCH
    return out


def _heat(values: np.ndarray, vmin: float, vmax: float) -> np.ndarray:
    """(..., ) floats -> (..., 3) uint8 colours of the heat map."""
    scaled = (values - vmin) / max(vmax - vmin, 1e-12)
    rgba = colormaps[HEAT_CMAP](np.clip(scaled, 0, 1))
    return (rgba[..., :3] * 255).round().astype(np.uint8)


def _upsample_map(values: torch.Tensor, grid: Tuple[int, int],
                  shape: Tuple[int, int], mode: str) -> np.ndarray:
    """(B, L) -> (B, *shape) float maps, bilinear or nearest (patches as
    blocks, exactly on the cells of ``_cell_map``)."""
    maps = values.float().cpu().reshape(-1, 1, *grid)
    if mode == 'nearest':
        rows, cols = _cell_map(grid, shape)
        return maps[:, 0][:, rows][:, :, cols].numpy()
    return F.interpolate(
        maps, size=shape, mode='bilinear', align_corners=False)[:,
                                                                 0].numpy()


def _column_lefts(widths: Sequence[int], start: int = MARGIN) -> List[int]:
    lefts, x = [], start
    for w in widths:
        lefts.append(x)
        x += w
    return lefts


def _masker_label(masker: Optional[nn.Module]) -> str:
    """A short description of a masker for a column title."""
    if masker is None:
        return 'no masker'
    kind = {
        'AttentionGuidedMasker': 'attention-guided',
        'RandomMasker': 'random'
    }.get(type(masker).__name__, type(masker).__name__)
    extra = masker.extra_repr() if hasattr(masker, 'extra_repr') else ''
    return f'{kind}, {extra}' if extra else kind


# ------------------------------------------------------------ pictures ----
@torch.no_grad()
def attention_and_masks(model: nn.Module,
                        images: torch.Tensor,
                        generator: Optional[torch.Generator] = None) -> dict:
    """The paper's Figure 2, one row per image: (a) the input, (b) the
    teacher's last-layer cls attention (Eq. 4) up-sampled over it, (c) a
    random mask (Eq. 3) and (d) the model's masker applied to that attention
    (Algorithm 1, Eq. 5). The random mask masks the same expected fraction
    as the model's masker (``masker.expected_ratio(L)``; a
    :class:`RandomMasker` model's own p), so (c) and (d) differ in *where*
    they mask, not how much.

    The guided mask is drawn first, then the random one, both from
    ``generator``.

    Args:
        model (MST): The model, with a masker.
        images (Tensor): Normalised images (B, 3, H, W), as the data
            preprocessor gives them.
        generator (torch.Generator, optional): Random source of both masks;
            None uses torch's global generator.

    Returns:
        dict: ``picture`` (RGB uint8); ``attention`` (B, L) float32;
        ``guided_mask`` and ``random_mask`` (B, L) bool; ``random_p``;
        ``grid`` (h, w) patches; ``panels``: for each column (``input``,
        ``attention``, ``random_mask``, ``guided_mask``) the
        (top, left, height, width) of every row's panel in the picture.
    """
    model = unwrap(model)
    masker = getattr(model, 'masker', None)
    if masker is None:
        raise ValueError(
            f'attention_and_masks: the model {type(model).__name__} has no '
            'masker (masker=None, e.g. the DINO baseline); the mask picture '
            'needs one')
    backbone = teacher_backbone(model)
    with evaluating(backbone):
        _, _, attention = backbone.forward_tokens(
            images.to(_device(backbone)), return_attention=True)
    attention = attention.float().cpu()
    length = attention.shape[1]
    guided = masker(attention, generator=generator).cpu()
    if isinstance(masker, RandomMasker):
        random_p = masker.p
    elif hasattr(masker, 'expected_ratio'):
        random_p = float(masker.expected_ratio(length))
    else:
        raise TypeError(
            f'attention_and_masks: the masker {type(masker).__name__} has '
            'no expected_ratio(L), needed to give the random mask the same '
            'masked fraction')
    random = RandomMasker(p=random_p)(attention, generator=generator).cpu()

    grid = patch_grid(backbone, images)
    shape = _panel_shape(images, PANEL)
    rgb = _resize_rgb(denormalise(model, images), shape)
    maps = _upsample_map(attention, grid, shape, 'bilinear')

    widths = [PANEL + GAP, PANEL + COLORBAR_SLOT, PANEL + GAP, PANEL]
    lefts = _column_lefts(widths)
    num = images.shape[0]
    sheet = _Sheet(MARGIN + sum(widths) + MARGIN,
                   MARGIN + TITLE_H + num * (shape[0] + CAPTION_H))
    if isinstance(masker, RandomMasker):
        guided_title = '(d) the model\'s mask\n' + _masker_label(masker)
    else:
        guided_title = ('(d) attention-guided mask\n(Eq. 5) ' +
                        masker.extra_repr())
    titles = ['(a) input', '(b) teacher cls attention\n(Eq. 4, last block)',
              f'(c) random mask\n(Eq. 3) p={random_p:.3g}', guided_title]
    names = ['input', 'attention', 'random_mask', 'guided_mask']
    for left, title in zip(lefts, titles):
        sheet.text(left + PANEL / 2, MARGIN + TITLE_H - 4, title,
                   va='bottom')
    panels: Dict[str, list] = {name: [] for name in names}
    for i in range(num):
        top = MARGIN + TITLE_H + i * (shape[0] + CAPTION_H)
        vmin, vmax = float(attention[i].min()), float(attention[i].max())
        overlay = (1 - HEAT_ALPHA) * rgb[i] + HEAT_ALPHA * _heat(
            maps[i], vmin, vmax)
        content = [
            rgb[i],
            overlay.round().astype(np.uint8),
            draw_masked_cells(rgb[i], random[i].numpy(), grid),
            draw_masked_cells(rgb[i], guided[i].numpy(), grid)
        ]
        for name, left, panel in zip(names, lefts, content):
            sheet.image(panel, top, left)
            panels[name].append((top, left, shape[0], shape[1]))
        sheet.colorbar(top, lefts[1] + PANEL + 6, shape[0], vmin, vmax)
        for left, mask in ((lefts[2], random[i]), (lefts[3], guided[i])):
            sheet.text(left + PANEL / 2, top + shape[0] + 2,
                       f'{int(mask.sum())} / {length} patches masked',
                       va='top', fontsize=8)
    return dict(
        picture=sheet.render(),
        attention=attention,
        guided_mask=guided,
        random_mask=random,
        random_p=random_p,
        grid=grid,
        panels=panels)


@torch.no_grad()
def attention_maps_per_head(
        model_or_backbone: Union[nn.Module, Dict[str, nn.Module]],
        images: torch.Tensor,
        rgb: Optional[np.ndarray] = None) -> dict:
    """Figure 3-like (Appendix L): the last block's cls -> patch attention
    of every head and their mean (Eq. 4), one row per image and backbone,
    patches drawn as blocks. One colour scale per row, from the row's
    smallest to its largest value (all heads and the mean share it), so
    peaked and flat heads can be compared.

    Args:
        model_or_backbone (nn.Module | dict[str, nn.Module]): An MSTViT, an
            MST model (its teacher's backbone is used), or several of them by
            row name, e.g. ``{'teacher': model, 'random init': other}``.
        images (Tensor): Normalised images (B, 3, H, W).
        rgb (ndarray, optional): The images as RGB uint8 (B, H, W, 3) for
            the input column; by default de-normalised with the data
            preprocessor of the first model given (grey if it is a bare
            backbone).

    Returns:
        dict: ``picture`` (RGB uint8); ``attention``: for each row name,
        (B, num_heads, L) float32; ``grid``.
    """
    if isinstance(model_or_backbone, dict):
        named = dict(model_or_backbone)
    else:
        named = {'': model_or_backbone}
    if not named:
        raise ValueError('attention_maps_per_head: no backbone given')
    if rgb is None:
        first = unwrap(next(iter(named.values())))
        if hasattr(first, 'data_preprocessor') and hasattr(first, 'backbone'):
            rgb = denormalise(first, images)
        else:
            rgb = np.full((*images.shape[:1], *images.shape[-2:], 3), 128,
                          np.uint8)
    attention = {}
    for name, obj in named.items():
        backbone = _as_backbone(obj)
        with evaluating(backbone):
            attention[name] = cls_attention_per_head(backbone,
                                                     images).float().cpu()
    backbone = _as_backbone(next(iter(named.values())))
    grid = patch_grid(backbone, images)
    heads = max(a.shape[1] for a in attention.values())
    shape = _panel_shape(images, HEAD_PANEL)
    thumbs = _resize_rgb(rgb, shape)

    step = HEAD_PANEL + 4
    widths = [ROW_LABEL_W] + [step] * (heads + 2) + [COLORBAR_SLOT - 4]
    lefts = _column_lefts(widths)
    num, rows = images.shape[0], len(named)
    row_h = shape[0] + 4
    height = (MARGIN + TITLE_H + num * rows * row_h + (num - 1) * GROUP_GAP +
              MARGIN)
    sheet = _Sheet(MARGIN + sum(widths) + MARGIN, height)
    titles = ['input'] + [f'head {h + 1}' for h in range(heads)] + [
        'mean over heads\n(Eq. 4)'
    ]
    for left, title in zip(lefts[1:], titles):
        sheet.text(left + HEAD_PANEL / 2, MARGIN + TITLE_H - 4, title,
                   va='bottom')
    for i in range(num):
        for r, (name, att) in enumerate(attention.items()):
            top = MARGIN + TITLE_H + (i * rows + r) * row_h + i * GROUP_GAP
            maps = torch.cat([att[i], att[i].mean(0, keepdim=True)])
            vmin, vmax = float(maps.min()), float(maps.max())
            blocks = _upsample_map(maps, grid, shape, 'nearest')
            sheet.image(thumbs[i], top, lefts[1])
            for h in range(att.shape[1]):
                sheet.image(_heat(blocks[h], vmin, vmax), top, lefts[2 + h])
            sheet.image(_heat(blocks[-1], vmin, vmax), top, lefts[2 + heads])
            sheet.colorbar(top, lefts[3 + heads], shape[0], vmin, vmax)
            if name:
                sheet.text(
                    lefts[0] + ROW_LABEL_W / 2,
                    top + shape[0] / 2,
                    name,
                    va='center',
                    rotation=90,
                    fontsize=8)
    return dict(picture=sheet.render(), attention=attention, grid=grid)


@torch.no_grad()
def restorations(model: nn.Module,
                 images: torch.Tensor,
                 generator: Optional[torch.Generator] = None) -> dict:
    """The global image decoder at work (Eq. 9), one row per image: the
    input, the input with the patches the student sees as [MASK] (the
    model's masker on the teacher's attention, as in training), and the
    decoder's restoration from the student's tokens (de-normalised,
    clipped). Every module runs in eval mode (BN running statistics).

    Args:
        model (MST): The model, with a neck (the decoder). Without a masker
            nothing is masked.
        images (Tensor): Normalised images (B, 3, H, W).
        generator (torch.Generator, optional): Random source of the mask.

    Returns:
        dict: ``picture`` (RGB uint8); ``mask`` (B, L) bool; ``restored``
        (B, 3, H, W) normalised; ``l1`` (B, ) mean absolute error in the
        normalised space (the restoration loss before lambda2); ``grid``;
        ``panels`` (top, left, height, width) per column (``input``,
        ``masked_input``, ``restoration``) and row.
    """
    model = unwrap(model)
    if getattr(model, 'neck', None) is None:
        raise ValueError(
            f'restorations: the model {type(model).__name__} has no neck '
            '(the global image decoder, neck=None as in DINO); nothing '
            'restores the image')
    teacher, student = teacher_backbone(model), model.backbone
    masker = getattr(model, 'masker', None)
    device = _device(student)
    images = images.to(device)
    with evaluating(teacher, student, model.neck):
        mask = None
        if masker is not None:
            _, _, attention = teacher.forward_tokens(
                images, return_attention=True)
            mask = masker(attention, generator=generator).to(device)
        _, patches, _ = student.forward_tokens(images, mask=mask)
        restored = model.neck(patches).float()
    grid = patch_grid(student, images)
    if mask is None:
        mask = torch.zeros(images.shape[0], grid[0] * grid[1],
                           dtype=torch.bool)
    mask = mask.cpu()
    l1 = (restored - images.float()).abs().flatten(1).mean(1).cpu()

    shape = _panel_shape(images, PANEL)
    rgb = _resize_rgb(denormalise(model, images), shape)
    out = _resize_rgb(denormalise(model, restored), shape)
    widths = [PANEL + GAP, PANEL + GAP, PANEL]
    lefts = _column_lefts(widths)
    num = images.shape[0]
    sheet = _Sheet(MARGIN + sum(widths) + MARGIN,
                   MARGIN + TITLE_H + num * (shape[0] + CAPTION_H))
    titles = ['input', 'masked input (student)\n' + _masker_label(masker),
              'restoration\n(image decoder, Eq. 9)']
    names = ['input', 'masked_input', 'restoration']
    for left, title in zip(lefts, titles):
        sheet.text(left + PANEL / 2, MARGIN + TITLE_H - 4, title,
                   va='bottom')
    panels: Dict[str, list] = {name: [] for name in names}
    for i in range(num):
        top = MARGIN + TITLE_H + i * (shape[0] + CAPTION_H)
        content = [rgb[i], draw_masked_cells(rgb[i], mask[i].numpy(), grid),
                   out[i]]
        for name, left, panel in zip(names, lefts, content):
            sheet.image(panel, top, left)
            panels[name].append((top, left, shape[0], shape[1]))
        sheet.text(lefts[1] + PANEL / 2, top + shape[0] + 2,
                   f'{int(mask[i].sum())} / {mask.shape[1]} patches masked',
                   va='top', fontsize=8)
        sheet.text(lefts[2] + PANEL / 2, top + shape[0] + 2,
                   f'L1 (normalised) {float(l1[i]):.3f}', va='top',
                   fontsize=8)
    return dict(
        picture=sheet.render(),
        mask=mask,
        restored=restored.cpu(),
        l1=l1,
        grid=grid,
        panels=panels)


def read_scalars(scalars_json_path: str) -> List[dict]:
    """The training rows (those with a ``loss``) of mmengine's
    ``vis_data/scalars.json``, one JSON object per line."""
    if not osp.isfile(scalars_json_path):
        raise FileNotFoundError(
            f'training_curves: {scalars_json_path!r} does not exist (it is '
            'written by mmengine\'s LocalVisBackend as '
            '<work_dir>/<timestamp>/vis_data/scalars.json)')
    rows = []
    with open(scalars_json_path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f'{scalars_json_path}, line {number}: not '
                                 f'JSON ({e})') from None
            if isinstance(row, dict) and 'loss' in row and 'step' in row:
                rows.append(row)
    if not rows:
        raise ValueError(
            f'training_curves: {scalars_json_path!r} holds no training row '
            '(no line with "loss" and "step"); has an iteration been logged?')
    return rows


def training_curves(scalars_json_path: str) -> dict:
    """The signals MST logs, against the iteration: ``loss_distill``, its
    controllable part KL(teacher || student) = ``loss_distill -
    teacher_entropy`` (exact with lambda1 = 1, the cross-entropy itself
    rises early while centering and the temperature warm-up raise the
    teacher's entropy), ``loss_restore``, ``teacher_entropy`` and
    ``teacher_batch_entropy`` (collapse signals), ``mask_ratio`` and the
    total ``loss``. A signal the run did not log is marked so.

    Args:
        scalars_json_path (str): mmengine's ``vis_data/scalars.json``.

    Returns:
        dict: ``picture`` (RGB uint8, 650 x 1200) and ``series``: for each
        key, (iterations, values) as lists.
    """
    rows = read_scalars(scalars_json_path)
    series: Dict[str, Tuple[list, list]] = {}
    keys = {k for _, ks, _ in CURVE_PANELS for k in ks} - {'kl'}
    for key in sorted(keys):
        points = [(r['step'], r[key]) for r in rows if key in r]
        if points:
            series[key] = ([p[0] for p in points], [p[1] for p in points])
    # MST logs the KL itself (distill_kl); older logs only have its parts.
    kl = [(r['step'], r['distill_kl']) for r in rows if 'distill_kl' in r] \
        or [(r['step'], r['loss_distill'] - r['teacher_entropy'])
            for r in rows if 'loss_distill' in r and 'teacher_entropy' in r]
    if kl:
        series['kl'] = ([p[0] for p in kl], [p[1] for p in kl])

    fig = Figure(figsize=CURVES_FIGSIZE, dpi=DPI, facecolor='white',
                 layout='constrained')
    FigureCanvasAgg(fig)
    run = osp.basename(osp.dirname(osp.dirname(
        osp.abspath(scalars_json_path))))
    fig.suptitle(f'MST training signals, run {run} ({len(rows)} logged '
                 'iterations)', fontsize=11)
    axes = fig.subplots(2, 3)
    for ax, (title, panel_keys, ylabel) in zip(axes.flat, CURVE_PANELS):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel('iteration', fontsize=8)
        if ylabel:
            ax.set_ylabel(ylabel, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        drawn = False
        for key in panel_keys:
            if key in series:
                x, y = series[key]
                ax.plot(x, y, marker='.' if len(x) < 50 else None,
                        label=key, linewidth=1.2)
                drawn = True
        if not drawn:
            ax.text(0.5, 0.5, 'not logged by this run', ha='center',
                    va='center', transform=ax.transAxes, fontsize=9,
                    color='grey')
        elif len(panel_keys) > 1:
            ax.legend(fontsize=7)
    fig.canvas.draw()
    picture = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    return dict(picture=picture, series=series)


def save_picture(picture: np.ndarray, path: str) -> str:
    """Write an RGB uint8 picture as a PNG; returns the path."""
    from PIL import Image
    Image.fromarray(picture).save(path)
    return path


__all__ = [
    'attention_and_masks', 'attention_maps_per_head', 'restorations',
    'training_curves', 'cls_attention_per_head', 'denormalise',
    'draw_masked_cells', 'evaluating', 'read_scalars', 'save_picture',
    'teacher_backbone', 'MASK_FILL', 'MASK_HATCH'
]
