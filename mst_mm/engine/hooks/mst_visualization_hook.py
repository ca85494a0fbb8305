from typing import Optional, Sequence

import torch
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS
from mmpretrain.utils import get_ori_model

from ...visualization.figures import (attention_and_masks,
                                      attention_maps_per_head, restorations)
from ...visualization.probes import (first_views, require_mst,
                                     unavailable_pictures)
from .random_state_hook import preserved_random_state

PICTURES = ('masks', 'attention', 'restoration')


@HOOKS.register_module()
class MSTVisualizationHook(Hook):
    """Draw MST's pictures during training and send them to the runner's
    visualizer (``LocalVisBackend``: ``<run>/vis_data/vis_image/<name>_
    <epoch>.png``; TensorBoard and W&B get them too).

    Every ``interval`` epochs and after the last one, on the main process,
    with all modules in eval mode:

    - ``mst_masks``: the paper's Figure 2 (input, teacher cls attention,
      random mask, attention-guided mask);
    - ``mst_attention_heads``: the teacher's last-block cls attention per
      head and their mean;
    - ``mst_restoration``: input, masked input, the decoder's restoration.

    The images are fixed at ``before_train``: the first global view of the
    first ``num_images`` samples of the training set (with its random
    augmentation, drawn once). The masks use the same seed every time, so
    from one picture to the next only the model changes. The random
    generators of the training are left untouched. Pictures the model
    cannot draw (no masker, no decoder as in the DINO baseline) are skipped
    with a warning. Needs an epoch-based loop.

    Config example::

        custom_hooks = [..., dict(type='MSTVisualizationHook', interval=10)]

    Args:
        interval (int): Draw every ``interval`` epochs. Defaults to 1.
        num_images (int): Number of images (rows). Defaults to 4.
        pictures (Sequence[str]): Any of ``'masks'``, ``'attention'``,
            ``'restoration'``. Defaults to all three.
        seed (int): Seed of the masks. Defaults to 0.
    """

    priority = 'LOW'

    def __init__(self,
                 interval: int = 1,
                 num_images: int = 4,
                 pictures: Sequence[str] = PICTURES,
                 seed: int = 0) -> None:
        if isinstance(interval,
                      bool) or not isinstance(interval, int) or interval < 1:
            raise ValueError(f'MSTVisualizationHook: interval={interval!r} '
                             'must be an integer >= 1 (epochs)')
        if isinstance(
                num_images,
                bool) or not isinstance(num_images, int) or num_images < 1:
            raise ValueError(f'MSTVisualizationHook: num_images='
                             f'{num_images!r} must be an integer >= 1')
        unknown = set(pictures) - set(PICTURES)
        if unknown:
            raise ValueError(f'MSTVisualizationHook: unknown pictures '
                             f'{sorted(unknown)}, expected some of '
                             f'{PICTURES}')
        self.interval = interval
        self.num_images = num_images
        self.pictures = tuple(pictures)
        self.seed = seed
        self._inputs: Optional[torch.Tensor] = None

    def before_train(self, runner) -> None:
        if not is_main_process():
            return
        model = get_ori_model(runner.model)
        require_mst(model, 'MSTVisualizationHook')
        skipped = unavailable_pictures(model, self.pictures)
        for picture, reason in skipped.items():
            runner.logger.warning(
                f'MSTVisualizationHook: skipping {picture!r}: {reason}')
        self._draw = tuple(p for p in self.pictures if p not in skipped)

        dataset = runner.train_dataloader.dataset
        count = min(self.num_images, len(dataset))
        with preserved_random_state():
            samples = [dataset[i] for i in range(count)]
        self._inputs = torch.stack(first_views(samples))

    def after_train_epoch(self, runner) -> None:
        if self._inputs is None or not (self.every_n_epochs(
                runner, self.interval) or self.is_last_train_epoch(runner)):
            return
        model = get_ori_model(runner.model)
        with preserved_random_state():
            images = model.data_preprocessor(
                dict(inputs=self._inputs, data_samples=None), False)['inputs']
            drawn = {}
            if 'masks' in self._draw:
                drawn['mst_masks'] = attention_and_masks(
                    model, images,
                    torch.Generator().manual_seed(self.seed))
            if 'attention' in self._draw:
                drawn['mst_attention_heads'] = attention_maps_per_head(
                    {'teacher': model}, images)
            if 'restoration' in self._draw:
                drawn['mst_restoration'] = restorations(
                    model, images,
                    torch.Generator().manual_seed(self.seed))
        for name, result in drawn.items():
            runner.visualizer.add_image(
                name, result['picture'], step=runner.epoch + 1)
