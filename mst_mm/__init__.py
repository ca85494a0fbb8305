"""MST (Masked Self-Supervised Transformer) as an OpenMMLab plugin.

``import mst_mm`` (or ``custom_imports=dict(imports=['mst_mm'])`` in a config)
registers every component into mmpretrain's registries and lets mmengine load
full runner checkpoints under PyTorch >= 2.6 (see
:mod:`mst_mm.utils.checkpoint_compat`).
"""
from .utils import patch_mmengine_checkpoint_loader
from .version import __version__

patch_mmengine_checkpoint_loader()

from . import engine, models, visualization  # noqa: E402,F401  (registers)

__all__ = ['__version__']
