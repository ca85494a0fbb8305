import os.path as osp
from typing import Optional, Sequence

import mmcv
from mmengine.fileio import get
from mmengine.hooks import Hook
from mmengine.utils import mkdir_or_exist
from mmengine.visualization import Visualizer
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class SegTestVisualizationHook(Hook):
    """Draw every test image's segmentation into one folder, as mmdet's
    ``DetVisualizationHook(test_out_dir=...)`` does for detections.

    mmseg's ``SegVisualizationHook`` draws only every ``interval``-th (50)
    test batch and sends the pictures to the visualizer's backends
    (``<save_dir>/vis_data/vis_image/``, ``save_dir`` relative to the
    current directory). This hook draws each image of each test batch with
    the config's visualizer (mmseg's ``SegLocalVisualizer``: ground truth
    left, prediction right) to
    ``<work_dir>/<timestamp>/<test_out_dir>/<image file name>``.
    ``tools/test.py --show-dir`` sets it up for mmseg configs; in a config
    use ``type='mmpretrain.SegTestVisualizationHook'`` (registered in
    mmpretrain's registry, reachable from the mmseg scope).

    Args:
        test_out_dir (str): folder relative to the run's timestamped work
            dir (an absolute path is kept as is).
        draw (bool): whether to draw at all. Defaults to True.
        backend_args (dict, optional): file backend arguments to read the
            images. Defaults to None.
    """

    priority = 'NORMAL'

    def __init__(self,
                 test_out_dir: str,
                 draw: bool = True,
                 backend_args: Optional[dict] = None):
        if not test_out_dir:
            raise ValueError('SegTestVisualizationHook: test_out_dir must be '
                             f'a folder name, got {test_out_dir!r}')
        self.test_out_dir = test_out_dir
        self.draw = draw
        self.backend_args = backend_args
        self._out_dir = None

    def before_test(self, runner) -> None:
        # Joined once: runner.work_dir is absolute, a user's absolute path
        # wins (osp.join keeps the last absolute part).
        self._out_dir = osp.join(runner.work_dir, runner.timestamp,
                                 self.test_out_dir)
        if self.draw:
            mkdir_or_exist(self._out_dir)

    def after_test_iter(self, runner, batch_idx: int, data_batch: dict,
                        outputs: Sequence) -> None:
        """Draw each ``SegDataSample`` of the batch (its ``img_path`` image,
        ``gt_sem_seg`` and ``pred_sem_seg``) to ``<out dir>/<basename>``."""
        if not self.draw:
            return
        visualizer = Visualizer.get_current_instance()
        for data_sample in outputs:
            img_path = data_sample.img_path
            img = mmcv.imfrombytes(
                get(img_path, backend_args=self.backend_args),
                channel_order='rgb')
            visualizer.add_datasample(
                'test_img',
                img,
                data_sample=data_sample,
                out_file=osp.join(self._out_dir, osp.basename(img_path)))
