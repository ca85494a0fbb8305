from .linear_probe import linear_probe_accuracy
from .weighted_knn import knn_accuracy, weighted_knn_classify

__all__ = ['knn_accuracy', 'linear_probe_accuracy', 'weighted_knn_classify']
