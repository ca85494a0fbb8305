# MST on Fashion-MNIST on a CPU: the paper's recipe (./_base_/: the DeiT-S
# model and schedule pieces, with Fashion-MNIST's own dataset piece) shrunk
# to a few minutes on 2 cores. The scale changes: 32 px global crops and 16 px
# local crops of the 28 x 28 images, a ViT with 4 x 4 patches (8 x 8 = 64
# tokens per global view), a small head and decoder, BN instead of SyncBN,
# plain fp32 AdamW, and the epoch schedules (lr, weight decay, teacher EMA)
# fitted to a handful of epochs. Two settings keep the teacher from
# collapsing (docs/small_scale_collapse.md has the controlled runs):
# - K = 256 prototypes: about 20 images per prototype, as ImageNet's 65536
#   for 1.28M images (K = 2048 for 5,000 images drifted to uniform faster);
# - teacher temperature 0.035 throughout: the paper's ViT-S/16 warm-up to
#   0.07 drove both demo teachers to a uniform output (94-99% of ln K)
#   within 3 epochs; 0.02-0.03 collapse them to a few prototypes within one
#   epoch; at DINO's code default 0.04 the per-sample entropy settled at
#   0.55 ln K (flat targets), at 0.035 at 0.44 ln K (runs c12 and c16).
#   python tools/dataset_converters/fashion_mnist_to_imagefolder.py \
#       --max-per-class-train 500 --max-per-class-test 100
#   python tools/train.py configs/pretrain/mst_vit-tiny-p4_fashion-mnist.py
# 39 iterations of 128 images per epoch, 6 epochs; about 1.7-2 s per
# iteration on 2 idle CPU cores (2-4x slower on a busy machine).
_base_ = [
    './_base_/datasets/fashion_mnist_multicrop.py',
    './_base_/models/mst_deit-s.py',
    './_base_/schedules/mst_adamw_cosine_300e.py',
    './_base_/default_runtime.py',
]

# --------------------------------------------------------------- model ----
embed_dims = 128
patch_size = 4
out_channels = 256  # K: ~20 images per prototype (ImageNet: 1.28M / 65536)
max_epochs = 6
model = dict(
    data_preprocessor=_base_.cpu_data_preprocessor,
    backbone=dict(
        arch=dict(
            _delete_=True,
            embed_dims=embed_dims,
            num_layers=4,
            num_heads=4,
            feedforward_channels=4 * embed_dims),
        img_size=_base_.global_size,
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
    # Teacher temperature 0.035 throughout (DINO's code default 0.04 left
    # the teacher's targets too flat here, see above). The collapse hook
    # starts checking after warmup_teacher_temp_epochs.
    distill_loss=dict(
        out_channels=out_channels,
        warmup_teacher_temp=0.035,
        teacher_temp=0.035,
        warmup_teacher_temp_epochs=max_epochs // 2),
    # The EMA teacher must move within a run of a few hundred iterations:
    # 0.996 keeps half of the random initialisation after 170 iterations,
    # 0.98 forgets it within ~50 (still cosine -> 1 at the end).
    base_momentum=0.02)

# ------------------------------------------------------------ schedule ----
# fp32 AdamW (the ImageNet configs' bf16 AmpOptimWrapper needs a GPU). The
# paper's 0.0005 per 256 images is tuned for 100+ epochs; a run of 234
# iterations gets 4x that (its distillation loss falls 3x further in epoch
# 1-2; k-NN 64% vs 63% at 1x).
batch_size = _base_.train_dataloader.batch_size
base_lr = 0.002 * batch_size / 256
optim_wrapper = dict(optimizer=dict(lr=base_lr))
auto_scale_lr = dict(base_batch_size=batch_size)

warmup_epochs = 1
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(_base_.lr_warmup, end=warmup_epochs),
    dict(
        _base_.lr_cosine,
        T_max=max_epochs - warmup_epochs,
        begin=warmup_epochs,
        end=max_epochs),
    dict(_base_.wd_cosine, T_max=max_epochs, end=max_epochs),
]

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=5),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=2))
# Weighted k-NN of the teacher (knn_evaluation in the dataset piece) after
# epochs 2, 4, 6, logged as knn/top1_k{k}: 6000 images each, about 12 s on 2
# idle CPU cores (46 s measured on 2 cores under a load of 7).
custom_hooks = _base_.custom_hooks + [
    dict(type='OnlineKNNHook', interval=2, network='teacher')
]
