from .attention_guided_masker import AttentionGuidedMasker
from .random_masker import RandomMasker

__all__ = ['AttentionGuidedMasker', 'RandomMasker']
