"""MST (Masked Self-Supervised Transformer) as an OpenMMLab plugin.

``import mst_mm`` (or ``custom_imports=dict(imports=['mst_mm'])`` in a config)
registers every component into mmpretrain's registries, lets mmengine load
full runner checkpoints under PyTorch >= 2.6 without ever running code from
them (see :mod:`mst_mm.utils.checkpoint_compat`), and makes
``init_cfg=dict(type='Pretrained')`` check or report what it loaded (see
:mod:`mst_mm.utils.checkpoint_coverage`).
"""
from .utils import (patch_mmengine_checkpoint_loader,
                    patch_pretrained_init_report)
from .version import __version__

patch_mmengine_checkpoint_loader()
patch_pretrained_init_report()

# Importing the subpackages registers their components.
from . import datasets, engine, models, visualization  # noqa: E402,F401

__all__ = ['__version__']
