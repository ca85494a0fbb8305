from .checkpoint_compat import (mmengine_checkpoint_safe_globals,
                                patch_mmengine_checkpoint_loader)
from .checkpoint_coverage import (check_checkpoint_covers,
                                  load_checkpoint_checked,
                                  patch_pretrained_init_report)

__all__ = [
    'mmengine_checkpoint_safe_globals', 'patch_mmengine_checkpoint_loader',
    'check_checkpoint_covers', 'load_checkpoint_checked',
    'patch_pretrained_init_report'
]
from .launcher import set_launcher  # noqa: E402
from .launcher import finish_distributed, sync_bn_to_bn

__all__ += ['finish_distributed', 'set_launcher', 'sync_bn_to_bn']
from .log_filters import keep_out_of_console  # noqa: E402
from .quiet_init import init_weights_quietly  # noqa: E402

__all__ += ['init_weights_quietly', 'keep_out_of_console']
