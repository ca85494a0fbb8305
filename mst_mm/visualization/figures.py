"""MST's pictures of a model: the paper's Figure 2 (attention-guided vs
random mask), Figure 3 / Appendix L (cls attention maps, here per head) and
the global image decoder's restorations (Eq. 9).

Every function returns a dict whose ``'picture'`` is an RGB uint8 array
(H, W, 3), ready for a PNG file or ``runner.visualizer.add_image``, next to
the values it draws, so that tests and users can check the picture against
the model. The layout is :mod:`.layout`'s.
"""
from typing import Dict, Optional, Union

import numpy as np
import torch
import torch.nn as nn
from mmpretrain.utils import get_ori_model

from ..models.maskers import RandomMasker
from .layout import (COLORBAR_SLOT, GAP, GROUP_GAP, HEAD_PANEL, HEAT_ALPHA,
                     MARGIN, PANEL, ROW_LABEL_W, TITLE_H, PanelRows, Sheet,
                     column_lefts, draw_masked_cells, heat, panel_shape,
                     resize_rgb, upsample_map)
from .probes import (as_backbone, denormalise, evaluating, module_device,
                     patch_grid, teacher_backbone)


def masker_label(masker: Optional[nn.Module]) -> str:
    """A short description of a masker for a column title."""
    if masker is None:
        return 'no masker'
    kind = {
        'AttentionGuidedMasker': 'attention-guided',
        'RandomMasker': 'random'
    }.get(type(masker).__name__,
          type(masker).__name__)
    extra = masker.extra_repr() if hasattr(masker, 'extra_repr') else ''
    return f'{kind}, {extra}' if extra else kind


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
    model = get_ori_model(model)
    masker = getattr(model, 'masker', None)
    if masker is None:
        raise ValueError(
            f'attention_and_masks: the model {type(model).__name__} has no '
            'masker (masker=None, e.g. the DINO baseline); the mask picture '
            'needs one')
    backbone = teacher_backbone(model)
    with evaluating(backbone):
        _, _, attention = backbone.forward_tokens(
            images.to(module_device(backbone)), return_attention=True)
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
    shape = panel_shape(images, PANEL)
    rgb = resize_rgb(denormalise(model, images), shape)
    maps = upsample_map(attention, grid, shape, 'bilinear')

    if isinstance(masker, RandomMasker):
        guided_title = '(d) the model\'s mask\n' + masker_label(masker)
    else:
        guided_title = ('(d) attention-guided mask\n(Eq. 5) ' +
                        masker.extra_repr())
    rows = PanelRows(
        widths=[PANEL + GAP, PANEL + COLORBAR_SLOT, PANEL + GAP, PANEL],
        titles=[
            '(a) input', '(b) teacher cls attention\n(Eq. 4, last block)',
            f'(c) random mask\n(Eq. 3) p={random_p:.3g}', guided_title
        ],
        names=['input', 'attention', 'random_mask', 'guided_mask'],
        shape=shape,
        num=images.shape[0])
    for i in range(images.shape[0]):
        vmin, vmax = float(attention[i].min()), float(attention[i].max())
        overlay = (1 - HEAT_ALPHA) * rgb[i] + HEAT_ALPHA * heat(
            maps[i], vmin, vmax)
        rows.add_row(i, [
            rgb[i],
            overlay.round().astype(np.uint8),
            draw_masked_cells(rgb[i], random[i].numpy(), grid),
            draw_masked_cells(rgb[i], guided[i].numpy(), grid)
        ])
        rows.sheet.colorbar(
            rows.top(i), rows.lefts[1] + PANEL + 6, shape[0], vmin, vmax)
        for column, mask in ((2, random[i]), (3, guided[i])):
            rows.caption(i, column,
                         f'{int(mask.sum())} / {length} patches masked')
    return dict(
        picture=rows.sheet.render(),
        attention=attention,
        guided_mask=guided,
        random_mask=random,
        random_p=random_p,
        grid=grid,
        panels=rows.panels)


@torch.no_grad()
def attention_maps_per_head(model_or_backbone: Union[nn.Module,
                                                     Dict[str, nn.Module]],
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
        first = get_ori_model(next(iter(named.values())))
        if hasattr(first, 'data_preprocessor') and hasattr(first, 'backbone'):
            rgb = denormalise(first, images)
        else:
            rgb = np.full((*images.shape[:1], *images.shape[-2:], 3), 128,
                          np.uint8)
    attention = {}
    for name, obj in named.items():
        backbone = as_backbone(obj)
        with evaluating(backbone):
            _, _, per_head = backbone.forward_tokens(
                images.to(module_device(backbone)),
                return_attention=True,
                average_heads=False)
            attention[name] = per_head.float().cpu()
    backbone = as_backbone(next(iter(named.values())))
    grid = patch_grid(backbone, images)
    heads = max(a.shape[1] for a in attention.values())
    shape = panel_shape(images, HEAD_PANEL)
    thumbs = resize_rgb(rgb, shape)

    step = HEAD_PANEL + 4
    widths = [ROW_LABEL_W] + [step] * (heads + 2) + [COLORBAR_SLOT - 4]
    lefts = column_lefts(widths)
    num, rows = images.shape[0], len(named)
    row_h = shape[0] + 4
    height = (
        MARGIN + TITLE_H + num * rows * row_h + (num - 1) * GROUP_GAP + MARGIN)
    sheet = Sheet(MARGIN + sum(widths) + MARGIN, height)
    titles = ['input'] + [f'head {h + 1}' for h in range(heads)
                          ] + ['mean over heads\n(Eq. 4)']
    for left, title in zip(lefts[1:], titles):
        sheet.text(
            left + HEAD_PANEL / 2, MARGIN + TITLE_H - 4, title, va='bottom')
    for i in range(num):
        for r, (name, att) in enumerate(attention.items()):
            top = MARGIN + TITLE_H + (i * rows + r) * row_h + i * GROUP_GAP
            maps = torch.cat([att[i], att[i].mean(0, keepdim=True)])
            vmin, vmax = float(maps.min()), float(maps.max())
            blocks = upsample_map(maps, grid, shape, 'nearest')
            sheet.image(thumbs[i], top, lefts[1])
            for h in range(att.shape[1]):
                sheet.image(heat(blocks[h], vmin, vmax), top, lefts[2 + h])
            sheet.image(heat(blocks[-1], vmin, vmax), top, lefts[2 + heads])
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
    model = get_ori_model(model)
    if getattr(model, 'neck', None) is None:
        raise ValueError(
            f'restorations: the model {type(model).__name__} has no neck '
            '(the global image decoder, neck=None as in DINO); nothing '
            'restores the image')
    teacher, student = teacher_backbone(model), model.backbone
    masker = getattr(model, 'masker', None)
    device = module_device(student)
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
        mask = torch.zeros(
            images.shape[0], grid[0] * grid[1], dtype=torch.bool)
    mask = mask.cpu()
    l1 = (restored - images.float()).abs().flatten(1).mean(1).cpu()

    shape = panel_shape(images, PANEL)
    rgb = resize_rgb(denormalise(model, images), shape)
    out = resize_rgb(denormalise(model, restored), shape)
    rows = PanelRows(
        widths=[PANEL + GAP, PANEL + GAP, PANEL],
        titles=[
            'input', 'masked input (student)\n' + masker_label(masker),
            'restoration\n(image decoder, Eq. 9)'
        ],
        names=['input', 'masked_input', 'restoration'],
        shape=shape,
        num=images.shape[0])
    for i in range(images.shape[0]):
        rows.add_row(
            i,
            [rgb[i],
             draw_masked_cells(rgb[i], mask[i].numpy(), grid), out[i]])
        rows.caption(i, 1,
                     f'{int(mask[i].sum())} / {mask.shape[1]} patches masked')
        rows.caption(i, 2, f'L1 (normalised) {float(l1[i]):.3f}')
    return dict(
        picture=rows.sheet.render(),
        mask=mask,
        restored=restored.cpu(),
        l1=l1,
        grid=grid,
        panels=rows.panels)
