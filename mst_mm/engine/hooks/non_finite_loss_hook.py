import math
import os.path as osp

import torch
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS
from mmpretrain.utils import get_ori_model


def non_finite_tensors(state_dict: dict) -> list:
    """Names of the floating-point tensors of ``state_dict`` that hold a NaN
    or an infinity."""
    return [
        name for name, value in state_dict.items()
        if torch.is_tensor(value) and value.is_floating_point()
        and not bool(torch.isfinite(value).all())
    ]


def _name_sample(names, num: int = 5) -> str:
    more = f' and {len(names) - num} more' if len(names) > num else ''
    return ', '.join(names[:num]) + more


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Stop training with a clear message when the loss or the weights are
    NaN or infinite, and never let a checkpoint hold non-finite weights.

    DINO-style training is known to diverge under fp16 (prefer bf16); going
    on after a NaN only burns compute and overwrites good checkpoints. The
    loss is computed *before* the update, so an update can make the weights
    non-finite while the loss that produced it was finite. Therefore:

    - the loss is checked after every iteration;
    - the model's parameters and buffers are checked before
      ``CheckpointHook`` runs (this hook's priority is higher) whenever it
      may save (end of an epoch; an iteration-based save), so that neither
      the file is written nor, with ``max_keep_ckpts``, an older good one
      deleted; ``before_save_checkpoint`` refuses such a state as a last
      guard for saves from elsewhere;
    - a checkpoint that is resumed or loaded with non-finite weights is
      refused.

    Every message names the last checkpoint with finite weights (the last
    one this run wrote, or the one it started from) when it still exists.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self) -> None:
        self.last_finite = None  # path of the last checkpoint known finite

    # ------------------------------------------------------------ messages
    def _last_finite_text(self) -> str:
        if self.last_finite and osp.isfile(self.last_finite):
            return (f'The last checkpoint with finite weights is '
                    f'{self.last_finite}; resume from it with --resume '
                    f'{self.last_finite} after lowering the learning rate.')
        return 'No checkpoint with finite weights was written by this run.'

    def _check_weights(self, runner, when: str) -> None:
        model = get_ori_model(runner.model)
        bad = non_finite_tensors(model.state_dict())
        if bad:
            raise FloatingPointError(
                f'Non-finite weights {when} (iteration {runner.iter}, epoch '
                f'{runner.epoch + 1}): {len(bad)} tensors hold NaN/inf '
                f'({_name_sample(bad)}); no checkpoint is saved. Lower the '
                'learning rate (or with AMP prefer '
                "optim_wrapper.dtype='bfloat16'). " + self._last_finite_text())

    # --------------------------------------------------------------- hooks
    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        from mmengine.runner.checkpoint import find_latest_checkpoint
        source = runner._load_from or find_latest_checkpoint(runner.work_dir)
        state_dict = checkpoint.get('state_dict', checkpoint)
        bad = non_finite_tensors(state_dict) if isinstance(state_dict,
                                                           dict) else []
        if bad:
            raise FloatingPointError(
                f'{source}: {len(bad)} tensors of the checkpoint hold NaN/inf '
                f'({_name_sample(bad)}); refusing to start from it. Use an '
                'earlier checkpoint of the run.')
        self.last_finite = source

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        # detached: float() of a tensor that requires grad warns every run
        losses = {
            k: float(v.detach() if isinstance(v, torch.Tensor) else v)
            for k, v in (outputs or {}).items() if 'loss' in k
        }
        bad = {k: v for k, v in losses.items() if not math.isfinite(v)}
        if bad:
            raise FloatingPointError(
                f'Non-finite loss at iteration {runner.iter + 1} (epoch '
                f'{runner.epoch + 1}): {bad}. With AMP prefer '
                "optim_wrapper.dtype='bfloat16' over float16; otherwise "
                'lower the learning rate. ' + self._last_finite_text())
        if self._iteration_save_due(runner):
            self._check_weights(runner, 'after this iteration')

    def after_train_epoch(self, runner) -> None:
        self._check_weights(runner, 'at the end of the epoch')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        bad = non_finite_tensors(checkpoint.get('state_dict', {}))
        if bad:
            raise FloatingPointError(
                f'Refusing to save a checkpoint whose weights hold NaN/inf: '
                f'{len(bad)} tensors ({_name_sample(bad)}). ' +
                self._last_finite_text())
        # CheckpointHook names the file it is about to write here.
        self.last_finite = runner.message_hub.get_info('last_ckpt')

    def _iteration_save_due(self, runner) -> bool:
        """Whether an iteration-based ``CheckpointHook`` may save now."""
        from mmengine.hooks import CheckpointHook
        for hook in runner.hooks:
            if isinstance(hook, CheckpointHook) and not hook.by_epoch:
                last = hook.save_last and self.is_last_train_iter(runner)
                if self.every_n_train_iters(runner, hook.interval) or last:
                    return True
        return False
