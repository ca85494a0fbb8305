from typing import Optional

import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.runner import EpochBasedTrainLoop
from mmpretrain.registry import HOOKS
from mmpretrain.utils import get_ori_model


def get_submodule(runner, path: str, owner: str) -> nn.Module:
    model = get_ori_model(runner.model)
    try:
        return model.get_submodule(path)
    except AttributeError as e:
        raise AttributeError(
            f'{owner}: the model {type(model).__name__} has no submodule '
            f'{path!r} ({e})') from None


@HOOKS.register_module()
class FreezeLastLayerHook(Hook):
    """Keep the projection head's last layer fixed during the first epochs
    (DINO's ``freeze_last_layer=1``, which MST follows).

    Every parameter of the module at ``module_path`` gets its gradient
    dropped (``grad = None``) right before each optimizer step while
    ``runner.epoch < freeze_epochs``, so the optimizer skips it entirely
    (no update, no weight decay, no moment). Freezing by module rather than
    by parameter name follows the real names whatever the weight-norm API
    (``weight_g`` or ``parametrizations.weight.original0``).

    Follows DINO (facebookresearch/dino, main_dino.py, which calls
    ``utils.cancel_gradients_last_layer`` before each optimizer step).

    Args:
        freeze_epochs (int): Number of epochs. Defaults to 1.
        module_path (str): Dotted path of the module in the model.
            Defaults to ``'head.last_layer'``.
    """

    priority = 'NORMAL'

    def __init__(self,
                 freeze_epochs: int = 1,
                 module_path: str = 'head.last_layer') -> None:
        if freeze_epochs < 0:
            raise ValueError(
                f'FreezeLastLayerHook: freeze_epochs={freeze_epochs} < 0')
        self.freeze_epochs = freeze_epochs
        self.module_path = module_path
        self._handle: Optional[object] = None

    def before_train(self, runner) -> None:
        if self.freeze_epochs > 0 and not isinstance(runner.train_loop,
                                                     EpochBasedTrainLoop):
            # runner.epoch never advances in an iteration-based loop: the
            # layer would stay frozen for the whole run.
            raise ValueError(
                f'{type(self).__name__}(freeze_epochs={self.freeze_epochs}) '
                'counts epochs, but the train loop is '
                f'{type(runner.train_loop).__name__}; use '
                "train_cfg=dict(type='EpochBasedTrainLoop', ...) as MST's "
                'configs do (the teacher temperature is per epoch too)')
        params = list(
            get_submodule(runner, self.module_path,
                          type(self).__name__).parameters())
        optimizer = runner.optim_wrapper.optimizer

        def drop_grads(optimizer, args, kwargs):
            if runner.epoch < self.freeze_epochs:
                for p in params:
                    p.grad = None

        self._handle = optimizer.register_step_pre_hook(drop_grads)

    def after_train(self, runner) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
