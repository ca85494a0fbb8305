# The tiny MST run of mst_tiny.py for one epoch, drawing MST's pictures
# (MSTVisualizationHook) into the run's vis_data/vis_image/.
_base_ = './mst_tiny.py'

train_cfg = dict(max_epochs=1)
custom_hooks = _base_.custom_hooks + [
    dict(type='MSTVisualizationHook', interval=1, num_images=2)
]
