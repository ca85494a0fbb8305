from .name_matched_cosine_ema import NameMatchedCosineEMA
from .query_attention import query_attention

__all__ = ['NameMatchedCosineEMA', 'query_attention']
