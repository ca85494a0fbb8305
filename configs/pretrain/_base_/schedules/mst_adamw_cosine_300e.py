# MST's optimisation (DINO's): AdamW, lr 0.0005 * 1024 / 256 = 2e-3
# (Appendix G), weight decay 0.04, none on biases and norms (DINO); 10
# warm-up epochs, then cosine lr, and cosine weight decay, over 300 epochs.
# fp32 here: the ImageNet configs add bf16 autocast (../../mst_deit-s_300e.py).
# Per-parameter gradient clipping is a hook (../default_runtime.py).
# Another length changes the epochs only (../../mst_deit-s_100e.py):
#   param_scheduler = [
#       _base_.lr_warmup,
#       dict(_base_.lr_cosine, T_max=max_epochs - 10, end=max_epochs),
#       dict(_base_.wd_cosine, T_max=max_epochs, end=max_epochs)]
base_lr = 0.0005 * 1024 / 256
optim_wrapper = dict(
    type='OptimWrapper',
    # The frozen teacher is never handed to the optimizer (no per-parameter
    # 'requires_grad=False' warnings).
    constructor='TrainableParamsOptimWrapperConstructor',
    optimizer=dict(
        type='AdamW', lr=base_lr, betas=(0.9, 0.999), weight_decay=0.04),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))
# `tools/train.py --auto-scale-lr` applies lr = 0.0005 * batch / 256.
auto_scale_lr = dict(base_batch_size=1024, enable=False)

max_epochs = 300
warmup_epochs = 10
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
# 10 warm-up epochs from ~0, then cosine to 1e-6 (per iteration).
lr_warmup = dict(
    type='LinearLR',
    start_factor=1e-6,
    by_epoch=True,
    begin=0,
    end=warmup_epochs,
    convert_to_iter_based=True)
lr_cosine = dict(
    type='CosineAnnealingLR',
    T_max=max_epochs - warmup_epochs,
    eta_min=1e-6,
    by_epoch=True,
    begin=warmup_epochs,
    end=max_epochs,
    convert_to_iter_based=True)
# Weight decay: cosine 0.04 -> 0.4 over the whole run (DINO).
wd_cosine = dict(
    type='CosineAnnealingWeightDecay',
    eta_min=0.4,
    T_max=max_epochs,
    by_epoch=True,
    begin=0,
    end=max_epochs,
    convert_to_iter_based=True)
param_scheduler = [lr_warmup, lr_cosine, wd_cosine]
