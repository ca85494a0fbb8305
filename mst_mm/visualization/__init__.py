from .curves import read_scalars, training_curves
from .figures import attention_and_masks, attention_maps_per_head, restorations
from .layout import MASK_FILL, MASK_HATCH, draw_masked_cells, save_picture
from .probes import denormalise, evaluating, teacher_backbone

__all__ = [
    'attention_and_masks', 'attention_maps_per_head', 'restorations',
    'training_curves', 'read_scalars', 'denormalise', 'draw_masked_cells',
    'evaluating', 'save_picture', 'teacher_backbone', 'MASK_FILL', 'MASK_HATCH'
]
