"""Data components. ``import mst_mm`` registers those built on mmpretrain
alone; the ones that need a downstream toolbox (``check_seg_label_range``:
mmseg) are imported by the configs that use them, so that ``import mst_mm``
does not import mmseg."""
from .cached_sample_dataset import CachedSampleDataset

__all__ = ['CachedSampleDataset']
