# MST, DeiT-S/16, 100 epochs on ImageNet-1k (the ablation setting, Sec. 4.5).
# Paper: linear 73.9 (cls token of the last layer, Table 9) / 75.0 (DINO's
# linear protocol, Table 1), k-NN 72.1; Table 4 "Attention-Guided" 73.7.
# Transfer from this checkpoint: COCO Mask R-CNN needs Swin-T (Table 2);
# Cityscapes SETR uses DeiT-S (Table 3).
#   tools/dist_train.sh configs/pretrain/mst_deit-s_100e.py 8
_base_ = './mst_deit-s_300e.py'

max_epochs = 100
warmup_epochs = 10
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
