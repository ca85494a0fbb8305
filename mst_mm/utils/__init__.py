from .checkpoint_compat import (mmengine_checkpoint_safe_globals,
                                patch_mmengine_checkpoint_loader)

__all__ = ['mmengine_checkpoint_safe_globals', 'patch_mmengine_checkpoint_loader']
