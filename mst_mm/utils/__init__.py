from .checkpoint_compat import (mmengine_checkpoint_safe_globals,
                                patch_mmengine_checkpoint_loader)

__all__ = ['mmengine_checkpoint_safe_globals', 'patch_mmengine_checkpoint_loader']
from .launcher import finish_distributed, set_launcher  # noqa: E402

__all__ += ['finish_distributed', 'set_launcher']
from .quiet_init import init_weights_quietly  # noqa: E402

__all__ += ['init_weights_quietly']
