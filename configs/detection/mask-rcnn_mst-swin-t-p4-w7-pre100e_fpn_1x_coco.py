# Mask R-CNN + FPN on COCO, 1x schedule (12 epochs, AdamW, 800x1333),
# initialised from a Swin-T pre-trained with MST for 100 epochs on ImageNet-1k.
#
# MST paper, Table 2 (Swin-T, Mask R-CNN, 1x):
#   MST 100 ep         42.7 box AP   38.8 mask AP
#   DINO 100 ep        42.2 box AP   38.7 mask AP
#   supervised 100 ep  41.6 box AP   38.4 mask AP
#
# The backbone checkpoint: pre-train, then export the teacher's backbone to
# the path this config reads (`pretrained` below), one command:
#   tools/dist_train.sh configs/pretrain/mst_swin-t_100e.py 8
#   python tools/model_converters/mst_to_backbone.py \
#       work_dirs/mst_swin-t_100e/epoch_100.pth \
#       work_dirs/mst_swin-t_100e/backbone.pth
# (another file: --cfg-options model.backbone.init_cfg.checkpoint=<file>).
# Data: COCO 2017 under data/coco/ (README, "Data preparation").
#
# Run (8 GPUs, 2 images each = the recipe's 16 images per iteration):
#   tools/dist_train.sh \
#       configs/detection/mask-rcnn_mst-swin-t-p4-w7-pre100e_fpn_1x_coco.py 8
#
# Everything but the backbone is mmdet's own Swin-T recipe: data pipeline,
# FPN/RPN/RoI heads, AdamW (lr 1e-4, wd 0.05, no decay on norms and relative
# position bias tables), warm-up + MultiStepLR [8, 11]. The backbone is
# mmpretrain's SwinTransformer, the class MST pre-trains, so the exported
# weights load without any key conversion.
_base_ = 'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py'

custom_imports = dict(
    imports=['mmpretrain.models', 'mst_mm'], allow_failed_imports=False)

# A checkpoint whose keys are `backbone.<mmpretrain Swin-T key>`: the MST
# teacher's backbone exported from configs/pretrain/mst_swin-t_100e.py (the
# command in the header). Override it with
# --cfg-options model.backbone.init_cfg.checkpoint=...
# A full mmpretrain checkpoint of an ImageClassifier with a Swin-T backbone
# works as well. Keys are matched with strict=False, so a checkpoint without
# the `backbone.` prefix fails loudly (mmengine asserts the prefix is present)
# but a checkpoint of another architecture would load only partially: check
# the "missing keys" lines of the log.
pretrained = 'work_dirs/mst_swin-t_100e/backbone.pth'

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.SwinTransformer',
        arch='tiny',  # 96 dims, depths (2, 2, 6, 2), heads (3, 6, 12, 24)
        img_size=224,  # the pre-training resolution; inputs may be any size
        patch_size=4,
        window_size=7,
        drop_rate=0.,
        drop_path_rate=0.2,  # as the mmdet Swin-T recipe
        # Stage outputs before patch merging, each through its own LayerNorm
        # (norm0..norm3): 96, 192, 384, 768 channels at strides 4..32, which
        # is what mmdet's Swin gives to the FPN (in_channels inherited).
        out_indices=(0, 1, 2, 3),
        out_after_downsample=False,
        # mmdet's Swin pads any feature map to the window and always shifts;
        # mmpretrain does so only with pad_small_map=True (its default shrinks
        # the window, for classification, and refuses maps under 7x7).
        pad_small_map=True,
        with_cp=False,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')))

# A fixed seed, as the pre-training configs: without one, identical runs on a
# small set gave bbox mAP anywhere from 0.003 to 0.055. deterministic=False
# keeps cuDNN's fast (non-deterministic) kernels: runs are repeatable up to
# their GPU non-determinism; --cfg-options randomness.deterministic=True
# trades speed for bit-exact repeats.
randomness = dict(seed=0, deterministic=False)
