from .knn_evaluation import (DEFAULT_KS, DEFAULT_TEMPERATURE, NETWORKS,
                             bank_ks, build_knn_dataloaders, evaluate_knn,
                             extract_features, knn_backbone, knn_settings)
from .linear_probe import linear_probe_accuracy
from .run_signals import final_run_signals
from .weighted_knn import knn_accuracy, weighted_knn_classify

__all__ = [
    'DEFAULT_KS', 'DEFAULT_TEMPERATURE', 'bank_ks', 'build_knn_dataloaders',
    'evaluate_knn', 'extract_features', 'final_run_signals', 'knn_accuracy',
    'knn_backbone', 'knn_settings', 'linear_probe_accuracy', 'NETWORKS',
    'weighted_knn_classify'
]
