from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS
from mmpretrain.utils import get_ori_model

from mst_mm.utils.checkpoint_coverage import check_checkpoint_covers


@HOOKS.register_module()
class CheckpointCoverageHook(Hook):
    """Refuse ``load_from`` / ``--resume`` checkpoints that do not fit the
    model: a tensor of the model missing from the file, or a shape
    mismatch, is an error naming the file (mmengine itself loads
    non-strictly and trains on with random weights).

    ``tools/train.py`` and ``tools/test.py`` register it for every run.
    Deliberate partial loads go through ``init_cfg=dict(type='Pretrained',
    prefix=...)``, which is not affected.
    """

    priority = 'VERY_HIGH'

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        from mmengine.runner.checkpoint import find_latest_checkpoint
        model = get_ori_model(runner.model)
        source = runner._load_from or find_latest_checkpoint(runner.work_dir)
        state_dict = checkpoint.get('state_dict', checkpoint)
        if not isinstance(state_dict, dict):
            raise ValueError(f'{source}: its state_dict is a '
                             f'{type(state_dict).__name__}, expected a dict')
        check_checkpoint_covers(
            model,
            state_dict,
            source,
            what=f'the model of {runner.cfg.filename or "the config"}')


def register_checkpoint_checks(runner) -> None:
    """Give ``runner`` a :class:`CheckpointCoverageHook` unless its config
    already has one (what ``tools/train.py`` and ``tools/test.py`` do)."""
    if not any(isinstance(h, CheckpointCoverageHook) for h in runner.hooks):
        runner.register_hook(CheckpointCoverageHook(), priority='VERY_HIGH')
