import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class CheckSegLabelRange(BaseTransform):
    """Refuse a segmentation label map holding a value that is neither a
    class id (``0 .. num_classes - 1``) nor ``ignore_index``.

    Without it such a value (e.g. a raw Cityscapes id instead of a train id)
    stops training inside the loss with ``IndexError: Target 50 is out of
    bounds`` and no file name, and at test time is silently counted. Put it
    right after ``LoadAnnotations``.

    Required keys: ``gt_seg_map`` (H, W) and ``seg_map_path`` (for the
    message). Modifies nothing.

    Args:
        num_classes (int): Number of classes (19 for Cityscapes).
        ignore_index (int): The label of ignored pixels. Defaults to 255.
    """

    def __init__(self, num_classes: int, ignore_index: int = 255) -> None:
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f'CheckSegLabelRange: num_classes='
                             f'{num_classes!r}, expected an int >= 1')
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def transform(self, results: dict) -> dict:
        values = np.unique(results['gt_seg_map'])
        bad = values[((values < 0) | (values >= self.num_classes))
                     & (values != self.ignore_index)]
        if bad.size:
            raise ValueError(
                f'{results.get("seg_map_path", "a label map")}: label values '
                f'{bad.tolist()[:10]} are not class ids; expected 0..'
                f'{self.num_classes - 1} or {self.ignore_index} (ignored). '
                'Cityscapes needs the *_labelTrainIds.png maps '
                '(tools/dataset_converters/cityscapes.py of mmseg).')
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_classes={self.num_classes}, '
                f'ignore_index={self.ignore_index})')
