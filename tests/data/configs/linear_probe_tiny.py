# The linear-probe recipe (configs/pretrain/benchmarks/) on a tiny ViT and a
# tiny labelled image folder, for the tests. data_root and the backbone
# checkpoint are set by the test.
_base_ = ('../../../configs/pretrain/benchmarks/'
          'linear-probe-dino-protocol_mst-deit-s_8xb128-coslr-100e_in1k.py')

arch = dict(embed_dims=32, num_layers=4, num_heads=2, feedforward_channels=64)
model = dict(
    data_preprocessor=dict(num_classes=2),
    backbone=dict(
        arch=dict(_delete_=True, **arch),
        img_size=32,
        patch_size=8,
        out_indices=(0, 1, 2, 3),
        frozen_stages=4),
    head=dict(num_classes=2, in_channels=4 * 32, topk=(1, )))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=32,
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=32, edge='short'),
    dict(type='CenterCrop', crop_size=32),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root='data/tiny',
        data_prefix='train',
        pipeline=train_pipeline))
# The same loader over test/ with the test pipeline.
val_dataloader = dict(
    train_dataloader,
    dataset=dict(
        train_dataloader['dataset'],
        data_prefix='test',
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator
max_epochs = 2
optim_wrapper = dict(optimizer=dict(lr=0.1))
param_scheduler = [
    dict(_base_.param_scheduler[0], T_max=max_epochs, end=max_epochs)
]
train_cfg = dict(max_epochs=max_epochs, val_interval=1)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=1),
    checkpoint=dict(type='CheckpointHook', interval=1))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
