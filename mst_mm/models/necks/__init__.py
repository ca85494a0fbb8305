from .concatenate_features_neck import ConcatenateFeaturesNeck
from .global_image_decoder import GlobalImageDecoder

__all__ = ['ConcatenateFeaturesNeck', 'GlobalImageDecoder']
