# MST, DeiT-S/16, 100 epochs, with the whole augmentation on the CPU
# data-loader workers (mmpretrain's transforms, the reference path) instead
# of the fast path's device-side photometric augmentation: for exact
# comparisons of the two paths. Any config built on
# ./_base_/datasets/ selects the CPU path with these two lines.
#   tools/dist_train.sh configs/pretrain/mst_deit-s_100e_cpu-augment.py 8
_base_ = './mst_deit-s_100e.py'

train_dataloader = dict(dataset=dict(pipeline=_base_.train_pipeline))
model = dict(
    data_preprocessor=dict(_delete_=True, **_base_.cpu_data_preprocessor))
