from .weighted_knn import knn_accuracy, weighted_knn_classify

__all__ = ['knn_accuracy', 'weighted_knn_classify']
