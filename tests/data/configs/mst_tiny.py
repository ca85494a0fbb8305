# A tiny MST run for the tests: the real DeiT-S recipe
# (configs/pretrain/_base_/mst_deit-s_imagenet.py) scaled down to a 2-layer
# ViT on 32 px images, on CPU. data_root is set by the test.
_base_ = '../../../configs/pretrain/_base_/mst_deit-s_imagenet.py'

dataset_type = 'CustomDataset'
global_crop = dict(
    type='RandomResizedCrop',
    scale=32,
    crop_ratio_range=(0.4, 1.0),
    interpolation='bicubic',
    backend='pillow')
local_crop = dict(
    type='RandomResizedCrop',
    scale=16,
    crop_ratio_range=(0.1, 0.4),
    interpolation='bicubic',
    backend='pillow')
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='MultiView',
        num_views=[2, 2],
        transforms=[[global_crop,
                     dict(type='RandomFlip', prob=0.5)],
                    [local_crop, dict(type='RandomFlip', prob=0.5)]]),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    pin_memory=False,
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root='data/tiny',
        with_label=False,
        pipeline=train_pipeline))

model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True,
            embed_dims=32,
            num_layers=2,
            num_heads=2,
            feedforward_channels=64),
        img_size=32,
        patch_size=8),
    neck=dict(
        in_channels=32,
        patch_size=8,
        channels=(16, 8, 8),
        norm_cfg=dict(type='BN')),
    head=dict(
        in_channels=32,
        out_channels=128,
        hidden_channels=64,
        bottleneck_channels=16,
        norm_cfg=dict(type='BN1d')),
    distill_loss=dict(out_channels=128, warmup_teacher_temp_epochs=2),
    masker=dict(num=2, p=0.5))

optim_wrapper = dict(
    type='OptimWrapper',
    _delete_=True,
    constructor='TrainableParamsOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.04),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))
max_epochs = 4
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        begin=0,
        end=1,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - 1,
        eta_min=1e-6,
        by_epoch=True,
        begin=1,
        end=max_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingWeightDecay',
        eta_min=0.4,
        T_max=max_epochs,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True),
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=1),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=-1))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0, diff_rank_seed=False)

# k-NN evaluation on a labelled image folder (train/<class>/, test/<class>/),
# data_root set by the test.
knn_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=32, edge='short'),
    dict(type='CenterCrop', crop_size=32),
    dict(type='PackInputs'),
]
knn_evaluation = dict(
    ks=(1, 3),
    temperature=0.07,
    train_dataloader=dict(
        batch_size=4,
        num_workers=0,
        dataset=dict(
            _delete_=True,
            type='CustomDataset',
            data_root='data/tiny_labelled',
            data_prefix='train',
            pipeline=knn_pipeline)),
    val_dataloader=dict(
        batch_size=4,
        num_workers=0,
        dataset=dict(
            _delete_=True,
            type='CustomDataset',
            data_root='data/tiny_labelled',
            data_prefix='test',
            pipeline=knn_pipeline)))
