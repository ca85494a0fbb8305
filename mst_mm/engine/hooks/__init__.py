from .checkpoint_coverage_hook import (CheckpointCoverageHook,
                                       register_checkpoint_checks)
from .collapse_detection_hook import (CollapseDetectionHook,
                                      TrainingCollapseError)
from .freeze_last_layer_hook import FreezeLastLayerHook
from .mst_visualization_hook import MSTVisualizationHook
from .non_finite_loss_hook import NonFiniteLossHook
from .online_knn_hook import OnlineKNNHook
from .per_parameter_grad_clip_hook import (PerParameterGradClipHook,
                                           clip_grad_per_parameter,
                                           register_per_parameter_clipping)
from .random_state_hook import RandomStateHook
from .seg_test_visualization_hook import SegTestVisualizationHook
from .weight_decay_logger_hook import WeightDecayLoggerHook

__all__ = [
    'CheckpointCoverageHook', 'CollapseDetectionHook', 'FreezeLastLayerHook',
    'MSTVisualizationHook', 'NonFiniteLossHook', 'OnlineKNNHook',
    'PerParameterGradClipHook', 'RandomStateHook', 'SegTestVisualizationHook',
    'TrainingCollapseError', 'WeightDecayLoggerHook',
    'clip_grad_per_parameter', 'register_checkpoint_checks',
    'register_per_parameter_clipping'
]
