from .mst_head import MSTHead

__all__ = ['MSTHead']
