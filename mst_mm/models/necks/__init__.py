from .global_image_decoder import GlobalImageDecoder

__all__ = ['GlobalImageDecoder']
