"""What the pictures need from a model: its teacher's backbone, eval mode,
the de-normalised inputs, and the checks shared by
:class:`MSTVisualizationHook` and ``tools/visualize_mst.py`` (is it MST,
which pictures it can draw, which view of a sample is drawn)."""
import contextlib
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
from mmpretrain.utils import get_ori_model

# The parts of MST a picture needs that a config may drop (the DINO baseline
# has neither): picture -> (attribute that is None without it, what it is).
OPTIONAL_PARTS = dict(
    masks=('masker', 'model.masker is None'),
    restoration=('neck', 'model.neck (the global image decoder) is None'))


def require_mst(model: nn.Module, where: str) -> None:
    """Raise a TypeError naming ``where`` unless ``model`` is an MST model
    (it has a ``teacher`` and a ``backbone``)."""
    for name in ('teacher', 'backbone'):
        if not hasattr(model, name):
            raise TypeError(
                f'{where}: {type(model).__name__} is not an MST model (it '
                f'has no `{name}`)')


def unavailable_pictures(model: nn.Module,
                         pictures: Sequence[str]) -> Dict[str, str]:
    """The pictures among ``pictures`` that ``model`` cannot draw, each
    with the reason (a part of the model that is None)."""
    return {
        picture: reason
        for picture, (part, reason) in OPTIONAL_PARTS.items()
        if picture in pictures and getattr(model, part, None) is None
    }


def first_views(samples: Sequence[dict]) -> List[torch.Tensor]:
    """The image of each packed sample that is drawn: the first (global)
    view of a multi-crop sample, the image itself otherwise."""
    return [
        s['inputs'][0] if isinstance(s['inputs'],
                                     (list, tuple)) else s['inputs']
        for s in samples
    ]


def teacher_backbone(model: nn.Module) -> nn.Module:
    """The EMA teacher's backbone of an MST model (the one whose attention
    guides the mask), or the backbone of a model without a teacher."""
    model = get_ori_model(model)
    if hasattr(model, 'teacher'):
        return model.teacher.module.backbone
    return model.backbone


def as_backbone(obj: nn.Module) -> nn.Module:
    """``obj`` if it is an MSTViT, else the teacher's backbone it holds."""
    obj = get_ori_model(obj)
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


def module_device(module: nn.Module) -> torch.device:
    """The device of the module's first parameter (CPU without any)."""
    param = next(module.parameters(), None)
    return param.device if param is not None else torch.device('cpu')


def patch_grid(backbone: nn.Module, images: torch.Tensor) -> Tuple[int, int]:
    """(H/p, W/p): the patch grid of ``images`` in ``backbone``."""
    ph, pw = backbone.patch_size
    return images.shape[-2] // ph, images.shape[-1] // pw


def denormalise(model: nn.Module, images: torch.Tensor) -> np.ndarray:
    """Undo the model's data preprocessor: normalised (B, 3, H, W) ->
    RGB uint8 (B, H, W, 3), clipped to [0, 255]."""
    pre = get_ori_model(model).data_preprocessor
    x = images.detach().float().cpu()
    if getattr(pre, '_enable_normalize', False):
        x = x * pre.std.float().cpu() + pre.mean.float().cpu()
    if not getattr(pre, '_channel_conversion', False) and x.shape[1] == 3:
        x = x[:, [2, 1, 0]]  # the inputs stayed BGR, as images are loaded
    x = x.clamp(0, 255).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).numpy()
