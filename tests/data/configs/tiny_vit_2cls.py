# A classifier small enough to train for a few iterations on CPU in a second:
# the tests drive tools/train.py and tools/test.py with it. The image folder
# (one sub-folder per class, 32x32 PNGs) is made by the tests, which set
# `data_root` with --cfg-options; the path below does not exist on purpose.
default_scope = 'mmpretrain'
custom_imports = dict(imports=['mst_mm'], allow_failed_imports=False)

data_root = 'data/tiny_2cls_missing'

model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(
        num_classes=2,
        mean=[127.5, 127.5, 127.5],
        std=[127.5, 127.5, 127.5],
        to_rgb=True),
    backbone=dict(
        type='VisionTransformer',
        arch=dict(
            embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64),
        img_size=32,
        patch_size=8,
        out_type='cls_token'),
    head=dict(
        type='LinearClsHead',
        num_classes=2,
        in_channels=32,
        loss=dict(type='CrossEntropyLoss'),
        topk=(1, )))

pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='PackInputs'),
]
_dataset = dict(
    type='CustomDataset',
    data_root=data_root,
    data_prefix='',
    pipeline=pipeline)
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    dataset=_dataset,
    sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    dataset=_dataset,
    sampler=dict(type='DefaultSampler', shuffle=False))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator

max_epochs = 2
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=100)
val_cfg = dict()
test_cfg = dict()

optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05))
# Per-iteration cosine decay over 4 epochs: the learning rate differs at
# every iteration, so a resumed run proves it restored the right one.
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        T_max=4,
        by_epoch=True,
        begin=0,
        end=4,
        eta_min=1e-5,
        convert_to_iter_based=True)
]

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=1),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0)
