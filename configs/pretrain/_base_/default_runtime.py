# The runtime of MST pre-training: mmpretrain's defaults, this package's
# components, DINO's training hooks and the run's safety nets.
_base_ = 'mmpretrain::_base_/default_runtime.py'

custom_imports = dict(imports=['mst_mm'], allow_failed_imports=False)

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
