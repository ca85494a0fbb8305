from .mst_vit import MSTViT

__all__ = ['MSTViT']
