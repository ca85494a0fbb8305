# SETR-PUP on Cityscapes (768x768 crops, 40k iterations, 8 GPUs x 1 image),
# initialised from a DeiT-S/16 pre-trained with MST on ImageNet-1k.
#
# MST paper, Table 3 (SETR, DeiT-S, 40k schedule, Cityscapes val mIoU):
#   MST 100 ep          74.04
#   DINO 100 ep         72.96
#   supervised 300 ep   71.33
# Table 3 and the abstract give 100 pre-training epochs for MST and DINO; the
# text of Sec. 4.4 says 300 (and 74.7 mIoU). The name follows the table.
#
# The backbone checkpoint: pre-train, then export the teacher's backbone to
# the path this config reads (`pretrained` below), one command:
#   tools/dist_train.sh configs/pretrain/mst_deit-s_100e.py 8
#   python tools/model_converters/mst_to_backbone.py \
#       work_dirs/mst_deit-s_100e/epoch_100.pth \
#       work_dirs/mst_deit-s_100e/backbone.pth
# (another file: --cfg-options model.backbone.init_cfg.checkpoint=<file>).
# Data: Cityscapes under data/cityscapes/ with *_labelTrainIds.png maps made
# by cityscapesscripts + mmseg's converter (README, "Data preparation").
#
# Run:
#   tools/dist_train.sh \
#       configs/segmentation/setr_mst-deit-s-p16-pre100e_pup_8xb1-40k_cityscapes-768x768.py 8
#
# Everything but the backbone size and the schedule length is mmseg's
# SETR-PUP recipe: data pipeline, PUP decode head + 3 auxiliary heads, SGD
# (lr 0.01, no weight decay, 10x lr on the heads), poly decay, sliding-window
# test. The backbone is mmpretrain's VisionTransformer, the class MST
# pre-trains: mmseg's own ViT ignores `prefix`, expects other attention key
# names and has no patch-embedding bias, so it would load DeiT weights only
# after a conversion (and silently drop the patch bias).
_base_ = 'mmseg::setr/setr_vit-l_pup_8xb1-80k_cityscapes-768x768.py'

custom_imports = dict(
    imports=[
        'mmpretrain.models', 'mst_mm', 'mst_mm.datasets.check_seg_label_range'
    ],
    allow_failed_imports=False)

# The recipe's pipelines plus CheckSegLabelRange after LoadAnnotations: a
# label value that is not a train id (0..18) or 255 is an error naming the
# file, not an IndexError inside the loss or a value counted at test time.
label_check = dict(type='CheckSegLabelRange', num_classes=19, ignore_index=255)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    label_check,
    dict(
        type='RandomResize',
        scale=(2049, 1025),
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=(768, 768), cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2049, 1025), keep_ratio=True),
    dict(type='LoadAnnotations'),
    label_check,
    dict(type='PackSegInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

# A checkpoint whose keys are `backbone.<mmpretrain ViT key>`: the MST
# teacher's backbone exported from configs/pretrain/mst_deit-s_100e.py (the
# command in the header). Override it with
# --cfg-options model.backbone.init_cfg.checkpoint=...
pretrained = 'work_dirs/mst_deit-s_100e/backbone.pth'

norm_cfg = dict(type='SyncBN', requires_grad=True)  # the recipe's head norm
embed_dims = 384  # DeiT-S

model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmpretrain.VisionTransformer',
        arch='deit-small',  # 384 dims, 12 layers, 6 heads, MLP 1536
        img_size=768,  # position embeddings resized from 14x14 when loaded
        patch_size=16,
        drop_rate=0.,  # as the Cityscapes recipe
        drop_path_rate=0.,  # mmseg's ViT default, kept by the recipe
        # The recipe taps ViT-L (24 layers) after layers 10, 15, 20 and 24
        # (out_indices 9, 14, 19, 23). The same relative depths in 12 layers
        # are 5, 7.5, 10 and 12, i.e. 0-based (4, 7, 9, 11): the deepest feeds
        # the PUP decode head, the other three the auxiliary heads.
        out_indices=(4, 7, 9, 11),
        out_type='featmap',  # (B, 384, H/16, W/16), cls token dropped
        with_cls_token=True,  # DeiT has one; only the patch tokens go out
        # The recipe's ViT has no final norm: every SETRUPHead applies its own
        # LayerNorm to its input. The checkpoint's `ln1` is thus left unused.
        final_norm=False,
        interpolate_mode='bilinear',  # as the recipe's position-embed resize
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    decode_head=dict(in_channels=embed_dims),
    # A list replaces the inherited one as a whole: these are the recipe's
    # three auxiliary heads with only in_channels changed.
    auxiliary_head=[
        dict(
            type='SETRUPHead',
            in_channels=embed_dims,
            channels=256,
            in_index=i,
            num_classes=19,
            dropout_ratio=0,
            norm_cfg=norm_cfg,
            num_convs=2,
            up_scale=4,
            kernel_size=3,
            align_corners=False,
            loss_decode=dict(
                type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4))
        for i in range(3)
    ])

# 40k iterations instead of 80k (paper); validation and checkpoints every 4k
# iterations (the recipe's 1/10 of the schedule, as mmseg's schedule_40k).
max_iters = 40000
interval = 4000
train_cfg = dict(max_iters=max_iters, val_interval=interval)
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=1e-4,
        power=0.9,
        begin=0,
        end=max_iters,
        by_epoch=False)
]
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=interval))

# A fixed seed, as the pre-training configs, so that a user can reproduce a
# number. deterministic=False keeps cuDNN's fast (non-deterministic) kernels;
# --cfg-options randomness.deterministic=True trades speed for bit-exact
# repeats.
randomness = dict(seed=0, deterministic=False)
