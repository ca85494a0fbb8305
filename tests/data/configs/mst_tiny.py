# A tiny MST run for the tests: the real DeiT-S recipe's pieces
# (configs/pretrain/_base_/) scaled down to a 2-layer ViT on 32 px images,
# on CPU, crop and flip only (CPU input path). data_root is set by the test.
_base_ = [
    '../../../configs/pretrain/_base_/datasets/mst_multicrop.py',
    '../../../configs/pretrain/_base_/models/mst_deit-s.py',
    '../../../configs/pretrain/_base_/schedules/mst_adamw_cosine_300e.py',
    '../../../configs/pretrain/_base_/default_runtime.py',
]

global_crop = dict(
    type='RandomResizedCrop',
    scale=32,
    crop_ratio_range=(0.4, 1.0),
    interpolation='bicubic',
    backend='pillow')
local_crop = dict(global_crop, scale=16, crop_ratio_range=(0.1, 0.4))
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
    dataset=dict(
        type='CustomDataset',
        data_root='data/tiny',
        with_label=False,
        pipeline=train_pipeline))

model = dict(
    data_preprocessor=_base_.cpu_data_preprocessor,
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

optim_wrapper = dict(optimizer=dict(lr=1e-3))
max_epochs = 4
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(_base_.lr_warmup, start_factor=1e-3, end=1),
    dict(_base_.lr_cosine, T_max=max_epochs - 1, begin=1, end=max_epochs),
    dict(_base_.wd_cosine, T_max=max_epochs, end=max_epochs),
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
knn_loader = dict(
    _base_.knn_loader,
    batch_size=4,
    num_workers=0,
    dataset=dict(
        type='CustomDataset',
        data_root='data/tiny_labelled',
        data_prefix='train',
        pipeline=knn_pipeline))
knn_evaluation = dict(
    ks=(1, 3),
    train_dataloader=knn_loader,
    val_dataloader=dict(
        knn_loader, dataset=dict(knn_loader['dataset'], data_prefix='test')))
