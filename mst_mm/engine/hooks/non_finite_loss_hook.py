import math

from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Stop training with a clear message when the loss is NaN or infinite.

    DINO-style training is known to diverge under fp16 (prefer bf16); going
    on after a NaN only burns compute and overwrites good checkpoints.
    """

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        if not outputs:
            return
        bad = {
            k: float(v)
            for k, v in outputs.items()
            if 'loss' in k and not math.isfinite(float(v))
        }
        if bad:
            raise FloatingPointError(
                f'Non-finite loss at iteration {runner.iter + 1} (epoch '
                f'{runner.epoch + 1}): {bad}. With AMP prefer '
                "optim_wrapper.dtype='bfloat16' over float16; otherwise "
                'lower the learning rate. The last saved checkpoint is '
                f'in {runner.work_dir}.')
