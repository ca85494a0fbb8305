from .checkpoint_coverage_hook import (CheckpointCoverageHook,
                                       register_checkpoint_checks)
from .freeze_last_layer_hook import FreezeLastLayerHook
from .mst_visualization_hook import MSTVisualizationHook
from .non_finite_loss_hook import NonFiniteLossHook
from .per_parameter_grad_clip_hook import PerParameterGradClipHook
from .random_state_hook import RandomStateHook
from .seg_test_visualization_hook import SegTestVisualizationHook
from .weight_decay_logger_hook import WeightDecayLoggerHook

__all__ = [
    'CheckpointCoverageHook', 'FreezeLastLayerHook', 'MSTVisualizationHook',
    'NonFiniteLossHook', 'PerParameterGradClipHook', 'RandomStateHook',
    'SegTestVisualizationHook', 'WeightDecayLoggerHook',
    'register_checkpoint_checks'
]
