from .checkpoint_compat import (mmengine_checkpoint_safe_globals,
                                patch_mmengine_checkpoint_loader)

__all__ = ['mmengine_checkpoint_safe_globals', 'patch_mmengine_checkpoint_loader']
from .launcher import (finish_distributed, set_launcher,  # noqa: E402
                       sync_bn_to_bn)

__all__ += ['finish_distributed', 'set_launcher', 'sync_bn_to_bn']
from .log_filters import keep_out_of_console  # noqa: E402

__all__ += ['keep_out_of_console']
