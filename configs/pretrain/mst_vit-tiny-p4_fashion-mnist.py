# MST on Fashion-MNIST on a CPU: the paper's recipe (./_base_/) shrunk to a
# few minutes on 2 cores. The scale changes: 32 px global crops and 16 px
# local crops of the 28 x 28 images, a ViT with 4 x 4 patches (8 x 8 = 64
# tokens per global view), a small head and decoder, BN instead of SyncBN,
# plain fp32 AdamW, and the epoch schedules (lr, weight decay, teacher EMA)
# fitted to a handful of epochs. Two settings keep the teacher from
# collapsing (docs/small_scale_collapse.md has the controlled runs):
# - K = 256 prototypes: about 20 images per prototype, as ImageNet's 65536
#   for 1.28M images (K = 2048 for 5,000 images drifted to uniform faster);
# - teacher temperature 0.04 throughout (DINO's code default): the paper's
#   ViT-S/16 warm-up to 0.07 drove both demo teachers to a uniform output
#   (94-99% of ln K) within 3 epochs; 0.02-0.03 collapse them to a few
#   prototypes within one epoch instead.
#   python tools/dataset_converters/fashion_mnist_to_imagefolder.py \
#       --max-per-class-train 500 --max-per-class-test 100
#   python tools/train.py configs/pretrain/mst_vit-tiny-p4_fashion-mnist.py
# 39 iterations of 128 images per epoch, 6 epochs; about 1.7-2 s per
# iteration on 2 idle CPU cores (2-4x slower on a busy machine).
_base_ = './_base_/mst_deit-s_imagenet.py'

# ---------------------------------------------------------------- data ----
data_root = 'data/fashion_mnist'
global_size = 32
local_size = 16
global_crop_scale = (0.4, 1.0)
local_crop_scale = (0.1, 0.4)
num_local_crops = 4
# DINO blurs 224 px crops with sigma in (0.1, 2.0); 32 px crops get the same
# blur relative to their size.
blur_sigma = (0.1 * global_size / 224, 2.0 * global_size / 224)


def rescaled(view, size, crop_scale):
    """The paper's view with its crop size, crop scale and blur changed;
    flips, jitter, grey, blur and solarize probabilities stay as they are
    (jitter of saturation and hue, and grey, do nothing on grey images)."""
    changes = dict(
        RandomResizedCrop=dict(scale=size, crop_ratio_range=crop_scale),
        GaussianBlur=dict(magnitude_range=blur_sigma))
    return [dict(t, **changes.get(t['type'], {})) for t in view]


global_view_1 = rescaled(_base_.global_view_1, global_size, global_crop_scale)
global_view_2 = rescaled(_base_.global_view_2, global_size, global_crop_scale)
local_view = rescaled(_base_.local_view, local_size, local_crop_scale)
train_pipeline = [
    dict(type='LoadImageFromFile'),  # grey PNGs are loaded as 3 channels
    dict(
        type='MultiView',
        num_views=[1, 1, num_local_crops],
        transforms=[global_view_1, global_view_2, local_view]),
    dict(type='PackInputs'),
]
batch_size = 128
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=2,
    pin_memory=False,
    dataset=dict(
        _delete_=True,  # ImageNet's `split` means nothing to CustomDataset
        type='CustomDataset',
        data_root=data_root,
        data_prefix='train',
        pipeline=train_pipeline))

# --------------------------------------------------------------- model ----
embed_dims = 128
patch_size = 4
out_channels = 256  # K: ~20 images per prototype (ImageNet: 1.28M / 65536)
max_epochs = 6
model = dict(
    # Fashion-MNIST's pixel statistics (0.286 and 0.353 of 255).
    data_preprocessor=dict(mean=[72.94] * 3, std=[90.02] * 3),
    backbone=dict(
        arch=dict(
            _delete_=True,
            embed_dims=embed_dims,
            num_layers=4,
            num_heads=4,
            feedforward_channels=4 * embed_dims),
        img_size=global_size,
        patch_size=patch_size),
    # log2(4) = 2 stages: 8 x 8 -> 16 x 16 -> 32 x 32.
    neck=dict(
        in_channels=embed_dims,
        patch_size=patch_size,
        channels=(128, 64),
        norm_cfg=dict(type='BN')),
    head=dict(
        in_channels=embed_dims,
        out_channels=out_channels,
        hidden_channels=512,
        bottleneck_channels=128,
        norm_cfg=dict(type='BN1d')),
    # Teacher temperature 0.04 throughout (DINO's code default). The
    # collapse hook starts checking after warmup_teacher_temp_epochs.
    distill_loss=dict(
        out_channels=out_channels,
        warmup_teacher_temp=0.04,
        teacher_temp=0.04,
        warmup_teacher_temp_epochs=max_epochs // 2),
    # The EMA teacher must move within a run of a few hundred iterations:
    # 0.996 keeps half of the random initialisation after 170 iterations,
    # 0.98 forgets it within ~50 (still cosine -> 1 at the end).
    base_momentum=0.02)

# ------------------------------------------------------------ schedule ----
# fp32 AdamW (AmpOptimWrapper needs a GPU). The paper's 0.0005 per 256
# images is tuned for 100+ epochs; a run of 234 iterations gets 4x that (its
# distillation loss falls 3x further in epoch 1-2; k-NN 64% vs 63% at 1x).
base_lr = 0.002 * batch_size / 256
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    constructor='TrainableParamsOptimWrapperConstructor',
    optimizer=dict(
        type='AdamW', lr=base_lr, betas=(0.9, 0.999), weight_decay=0.04),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))
auto_scale_lr = dict(base_batch_size=batch_size)

warmup_epochs = 1
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-6,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - warmup_epochs,
        eta_min=1e-6,
        by_epoch=True,
        begin=warmup_epochs,
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
    logger=dict(type='LoggerHook', interval=5),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=2))
# Weighted k-NN of the teacher (knn_evaluation below) after epochs 2, 4, 6,
# logged as knn/top1_k{k}: 6000 images each, about 12 s on 2 idle CPU cores
# (46 s measured on 2 cores under a load of 7).
custom_hooks = _base_.custom_hooks + [
    dict(type='OnlineKNNHook', interval=2, network='teacher')
]

# ----------------------------------------------------------- evaluation ----
# Weighted k-NN (tools/knn_eval.py): the converted train split is the memory
# bank, the test split the queries, whole images resized to the global crop
# size.
knn_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='Resize',
        scale=global_size,
        interpolation='bicubic',
        backend='pillow'),
    dict(type='PackInputs'),
]
knn_evaluation = dict(
    train_dataloader=dict(
        num_workers=2,
        dataset=dict(
            _delete_=True,
            type='CustomDataset',
            data_root=data_root,
            data_prefix='train',
            pipeline=knn_pipeline)),
    val_dataloader=dict(
        num_workers=2,
        dataset=dict(
            _delete_=True,
            type='CustomDataset',
            data_root=data_root,
            data_prefix='test',
            pipeline=knn_pipeline)))
