# MST pre-training of DeiT-S/16 on ImageNet-1k: everything shared by the
# paper's runs (Sec. 4.1, Appendices B, C, G; DINO's defaults where the paper
# says it follows DINO). The leaf configs set the number of epochs.
_base_ = 'mmpretrain::_base_/default_runtime.py'

custom_imports = dict(imports=['mst_mm'], allow_failed_imports=False)

# ---------------------------------------------------------------- data ----
# Multi-crop (SwAV/DINO) with BYOL's augmentations (Appendix B): 2 global
# 224 px crops with different blur/solarize probabilities, 8 local 96 px.
dataset_type = 'ImageNet'
data_root = 'data/imagenet/'
global_crop_scale = (0.4, 1.0)
local_crop_scale = (0.05, 0.4)
num_local_crops = 8
color_jitter = dict(
    type='RandomApply',
    transforms=[
        dict(
            type='ColorJitter',
            brightness=0.4,
            contrast=0.4,
            saturation=0.2,
            hue=0.1)
    ],
    prob=0.8)
grayscale = dict(
    type='RandomGrayscale',
    prob=0.2,
    keep_channels=True,
    channel_weights=(0.114, 0.587, 0.2989))


def random_resized_crop(size, scale):
    return dict(
        type='RandomResizedCrop',
        scale=size,
        crop_ratio_range=scale,
        interpolation='bicubic',
        backend='pillow')


def gaussian_blur(prob):
    return dict(
        type='GaussianBlur',
        magnitude_range=(0.1, 2.0),
        magnitude_std='inf',
        prob=prob)


photometric = [dict(type='RandomFlip', prob=0.5), color_jitter, grayscale]
# BYOL's asymmetric views: always blurred / rarely blurred but solarized.
global_view_1 = [
    random_resized_crop(224, global_crop_scale), *photometric,
    gaussian_blur(1.0),
    dict(type='Solarize', thr=128, prob=0.0)
]
global_view_2 = [
    random_resized_crop(224, global_crop_scale), *photometric,
    gaussian_blur(0.1),
    dict(type='Solarize', thr=128, prob=0.2)
]
local_view = [
    random_resized_crop(96, local_crop_scale), *photometric,
    gaussian_blur(0.5)
]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='MultiView',
        num_views=[1, 1, num_local_crops],
        transforms=[global_view_1, global_view_2, local_view]),
    dict(type='PackInputs'),
]

# Two input paths with the same random distributions:
# - CPU path (`train_pipeline`, `cpu_data_preprocessor`): the views above,
#   every transform on the data-loader workers; the reference.
# - Fast path (`fast_train_pipeline`, `fast_data_preprocessor`): the workers
#   only decode, crop and flip (uint8 crops at their final size); the
#   views' photometric transforms, the same config dicts, run batched on the
#   device in MultiCropDataPreprocessor (several times the images per CPU
#   core, see the README's "Input pipeline" section).
# This file defaults to the CPU path (the configs that build their own views
# from it, Fashion-MNIST and the tests' tiny runs, stay on it); the ImageNet
# configs (../mst_deit-s_300e.py and those built on it) select the fast path,
# and ../mst_deit-s_100e_cpu-augment.py shows how to select the CPU path.
geometric_types = ('RandomResizedCrop', 'RandomFlip')


def geometric_part(view):
    # Pillow's bicubic resize (antialiased) is ~85% of the fast path's CPU
    # time; OpenCV's area interpolation is ~4x cheaper and, for these mostly
    # down-scaling crops, within about one grey level (mean) of Pillow's
    # (OpenCV's bicubic aliases: 3-4 levels). Crop parameters are unchanged.
    return [
        dict(t, backend='cv2', interpolation='area')
        if t['type'] == 'RandomResizedCrop' else t for t in view
        if t['type'] in geometric_types
    ]


def photometric_part(view):
    return [t for t in view if t['type'] not in geometric_types]


fast_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='MultiView',
        num_views=[1, 1, num_local_crops],
        transforms=[
            geometric_part(global_view_1),
            geometric_part(global_view_2),
            geometric_part(local_view)
        ]),
    dict(type='PackInputs'),
]
cpu_data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)
fast_data_preprocessor = dict(
    cpu_data_preprocessor,
    type='MultiCropDataPreprocessor',
    num_views=[1, 1, num_local_crops],
    transforms=[
        photometric_part(global_view_1),
        photometric_part(global_view_2),
        photometric_part(local_view)
    ])

# 8 GPUs x 128 = 1024 images per iteration (Sec. 4.1).
train_dataloader = dict(
    batch_size=128,
    num_workers=10,
    # Workers restart every epoch and seed from the epoch's iterator seed
    # (part of the checkpoint), so a resumed run augments exactly like an
    # uninterrupted one; persistent workers would continue streams that a
    # resume cannot restore.
    persistent_workers=False,
    worker_init_fn=dict(type='resumable_worker_init_fn'),
    pin_memory=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        pipeline=train_pipeline))

# --------------------------------------------------------------- model ----
embed_dims = 384  # DeiT-S
out_channels = 65536  # K, the head's output dimension (DINO)
model = dict(
    type='MST',
    data_preprocessor=cpu_data_preprocessor,
    backbone=dict(
        type='MSTViT',
        arch='deit-small',  # 384 dims, 12 layers, 6 heads, qkv bias
        img_size=224,
        patch_size=16,
        drop_path_rate=0.1,  # student only; the teacher has none
        norm_cfg=dict(type='LN', eps=1e-6),
        out_type='cls_token'),
    # Global image decoder: 4 x (Conv-BN-ReLU, 2x up) from 14x14 to 224x224.
    neck=dict(
        type='GlobalImageDecoder',
        in_channels=embed_dims,
        patch_size=16,
        channels=(256, 128, 64, 32),
        norm_cfg=dict(type='SyncBN')),
    head=dict(
        type='MSTHead',
        in_channels=embed_dims,
        out_channels=out_channels,
        hidden_channels=2048,
        bottleneck_channels=256,
        num_layers=3,
        use_bn=True,  # Table 6: 73.9 with BN vs 73.1 without
        norm_cfg=dict(type='SyncBN'),  # Appendix C
        norm_last_layer=False),  # DINO's choice for ViT-S/16
    distill_loss=dict(
        type='SelfDistillationLoss',
        out_channels=out_channels,
        student_temp=0.1,
        teacher_temp=0.07,
        warmup_teacher_temp=0.04,
        warmup_teacher_temp_epochs=30,
        center_momentum=0.9),
    restore_loss=dict(type='PixelReconstructionLoss', criterion='L1'),
    masker=dict(type='AttentionGuidedMasker', num=8, p=0.1),  # Table 5
    distill_weight=1.0,  # lambda1
    restore_weight=0.6,  # lambda2 (Appendix J)
    base_momentum=0.004,  # teacher EMA 0.996 -> 1 (mmengine: 1 - lambda)
    end_momentum=0.)

# ------------------------------------------------------------ schedule ----
# AdamW, lr 0.0005 * 1024 / 256 = 2e-3 (Appendix G), weight decay 0.04,
# none on biases and norms (DINO), bf16 autocast (fp16 diverges in DINO-style
# training). Per-parameter gradient clipping is a hook (below).
base_lr = 0.0005 * 1024 / 256
optim_wrapper = dict(
    type='AmpOptimWrapper',
    dtype='bfloat16',
    # The frozen teacher is never handed to the optimizer (no per-parameter
    # 'requires_grad=False' warnings).
    constructor='TrainableParamsOptimWrapperConstructor',
    optimizer=dict(
        type='AdamW', lr=base_lr, betas=(0.9, 0.999), weight_decay=0.04),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))
# `tools/train.py --auto-scale-lr` applies lr = 0.0005 * batch / 256.
auto_scale_lr = dict(base_batch_size=1024, enable=False)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=3))
custom_hooks = [
    # DINO: the head's last layer is frozen during the first epoch.
    dict(type='FreezeLastLayerHook', freeze_epochs=1),
    # DINO: every parameter's gradient clipped to norm 3.0.
    dict(type='PerParameterGradClipHook', max_norm=3.0),
    dict(type='WeightDecayLoggerHook'),
    dict(type='NonFiniteLossHook'),
    # Resume continues the random generators instead of re-seeding them.
    dict(type='RandomStateHook'),
    # Warns when the teacher collapses (entropy > 0.9 ln K, or batch entropy
    # < 0.1 ln K, for 3 logging intervals after the temperature warm-up);
    # stop=True ends the run instead.
    dict(type='CollapseDetectionHook', stop=False),
]
randomness = dict(seed=0, diff_rank_seed=True)
find_unused_parameters = False

# ----------------------------------------------------------- evaluation ----
# Weighted k-NN (Appendix D): tools/knn_eval.py CONFIG CHECKPOINT. The train
# split is the memory bank, val the queries; DINO's resize 256 (bicubic) and
# centre crop 224.
knn_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='ResizeEdge',
        scale=256,
        edge='short',
        backend='pillow',
        interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
knn_evaluation = dict(
    ks=(10, 20, 100, 200),
    temperature=0.07,
    train_dataloader=dict(
        batch_size=256,
        num_workers=10,
        sampler=dict(type='DefaultSampler', shuffle=False),
        dataset=dict(
            type=dataset_type,
            data_root=data_root,
            split='train',
            pipeline=knn_pipeline)),
    val_dataloader=dict(
        batch_size=256,
        num_workers=10,
        sampler=dict(type='DefaultSampler', shuffle=False),
        dataset=dict(
            type=dataset_type,
            data_root=data_root,
            split='val',
            pipeline=knn_pipeline)))
