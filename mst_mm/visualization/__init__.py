from .mst_pictures import (attention_and_masks, attention_maps_per_head,
                           cls_attention_per_head, denormalise, restorations,
                           save_picture, training_curves)

__all__ = [
    'attention_and_masks', 'attention_maps_per_head', 'cls_attention_per_head',
    'denormalise', 'restorations', 'save_picture', 'training_curves'
]
