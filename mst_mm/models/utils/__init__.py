from .name_matched_cosine_ema import NameMatchedCosineEMA

__all__ = ['NameMatchedCosineEMA']
