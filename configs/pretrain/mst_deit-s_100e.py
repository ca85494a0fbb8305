# MST, DeiT-S/16, 100 epochs on ImageNet-1k (the ablation setting, Sec. 4.5).
# Paper: linear 73.9 (cls token of the last layer, Table 9) / 75.0 (DINO's
# linear protocol, Table 1), k-NN 72.1; Table 4 "Attention-Guided" 73.7.
# Transfer from this checkpoint: COCO Mask R-CNN needs Swin-T (Table 2);
# Cityscapes SETR uses DeiT-S (Table 3).
#   tools/dist_train.sh configs/pretrain/mst_deit-s_100e.py 8
_base_ = './mst_deit-s_300e.py'

max_epochs = 100
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    _base_.lr_warmup,
    dict(
        _base_.lr_cosine,
        T_max=max_epochs - _base_.warmup_epochs,
        end=max_epochs),
    dict(_base_.wd_cosine, T_max=max_epochs, end=max_epochs),
]
