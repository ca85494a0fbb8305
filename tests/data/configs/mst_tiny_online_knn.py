# The tiny MST run of mst_tiny.py for two epochs with weighted k-NN of the
# teacher after each (OnlineKNNHook), and of the initial backbone.
# knn_evaluation's data_root is set by the test.
_base_ = './mst_tiny.py'

train_cfg = dict(max_epochs=2)
custom_hooks = _base_.custom_hooks + [
    dict(type='OnlineKNNHook', interval=1, evaluate_before_train=True)
]
