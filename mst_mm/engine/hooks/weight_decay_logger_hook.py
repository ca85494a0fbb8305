from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class WeightDecayLoggerHook(Hook):
    """Log the weight decay, which MST schedules (cosine 0.04 -> 0.4) like
    the learning rate but which mmengine does not log.

    The value is the largest weight decay over the parameter groups (the
    groups without decay, biases and norms, stay at 0), written to the
    MessageHub as ``train/weight_decay`` before every iteration, so the
    logger prints it next to ``lr``.
    """

    priority = 'BELOW_NORMAL'

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch=None) -> None:
        groups = runner.optim_wrapper.optimizer.param_groups
        weight_decay = max(g.get('weight_decay', 0.) for g in groups)
        runner.message_hub.update_scalar('train/weight_decay', weight_decay)
