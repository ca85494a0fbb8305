from .mst_swin import MSTSwin
from .mst_vit import MSTViT

__all__ = ['MSTSwin', 'MSTViT']
