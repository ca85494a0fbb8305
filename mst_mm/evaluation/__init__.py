from .knn_evaluation import (DEFAULT_KS, DEFAULT_TEMPERATURE, NETWORKS,
                             build_knn_dataloaders, evaluate_knn,
                             extract_features, knn_backbone, knn_settings)
from .weighted_knn import knn_accuracy, weighted_knn_classify

__all__ = [
    'DEFAULT_KS', 'DEFAULT_TEMPERATURE', 'build_knn_dataloaders',
    'evaluate_knn', 'extract_features', 'knn_accuracy', 'knn_backbone',
    'knn_settings', 'NETWORKS', 'weighted_knn_classify'
]
