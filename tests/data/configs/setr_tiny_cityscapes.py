# The project's SETR-PUP Cityscapes config, shrunk to run on CPU in seconds:
# a 4-layer, 16-dim ViT on 32 px crops, narrow PUP heads that keep the
# recipe's SyncBN, slide inference, 19 Cityscapes classes. Tests build a tiny
# Cityscapes layout (leftImg8bit/ + gtFine/*_labelTrainIds.png) and point
# the loaders at it with --cfg-options; the path below does not exist.
_base_ = [
    '../../../configs/segmentation/'
    'setr_mst-deit-s-p16-pre100e_pup_8xb1-40k_cityscapes-768x768.py'
]
data_root = 'data/tiny_cityscapes_missing/'
crop_size = (32, 32)
embed_dims = 16
norm_cfg = dict(type='SyncBN', requires_grad=True)  # as the recipe

model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        arch=dict(
            _delete_=True,
            embed_dims=embed_dims,
            num_layers=4,
            num_heads=2,
            feedforward_channels=32),
        img_size=32,
        patch_size=8,
        out_indices=(0, 1, 2, 3),
        init_cfg=None),
    decode_head=dict(in_channels=embed_dims, channels=8, num_convs=2),
    # The recipe's three auxiliary heads, narrower.
    auxiliary_head=[
        dict(h, in_channels=embed_dims, channels=8, num_convs=1, up_scale=2)
        for h in _base_.model.auxiliary_head
    ],
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(24, 24)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(64, 32), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

max_iters = 2
train_cfg = dict(max_iters=max_iters, val_interval=100)
param_scheduler = [
    dict(type='PolyLR', power=0.9, begin=0, end=max_iters, by_epoch=False)
]
default_hooks = dict(
    logger=dict(interval=1), checkpoint=dict(interval=max_iters))
