# MST, DeiT-S/16, 300 epochs on ImageNet-1k, 8 GPUs x 128 images, bf16.
# Paper (Table 1 / Table 9): linear 76.3 (cls token of the last layer),
# 76.9 (DINO's linear protocol), k-NN 75.0 (k=10, Table 7).
#   tools/dist_train.sh configs/pretrain/mst_deit-s_300e.py 8
_base_ = './_base_/mst_deit-s_imagenet.py'

# The fast input path (./_base_/): the workers decode, crop and flip; the
# photometric augmentation runs batched on the GPU, same distributions.
train_dataloader = dict(dataset=dict(pipeline=_base_.fast_train_pipeline))
model = dict(data_preprocessor=_base_.fast_data_preprocessor)

max_epochs = 300
warmup_epochs = 10
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
param_scheduler = [
    # 10 warm-up epochs from ~0, then cosine to 1e-6 (per iteration).
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
    # Weight decay: cosine 0.04 -> 0.4 over the whole run (DINO).
    dict(
        type='CosineAnnealingWeightDecay',
        eta_min=0.4,
        T_max=max_epochs,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True),
]
