# MST with DeiT-S/16 (Sec. 4.1, Appendices C and J; DINO's defaults where the
# paper says it follows DINO). No data preprocessor: the normalisation and
# the input path come with the data (../datasets/), and each runnable config
# sets `model.data_preprocessor` (tools build `cfg.model` outside a runner).
embed_dims = 384  # DeiT-S
out_channels = 65536  # K, the head's output dimension (DINO)
model = dict(
    type='MST',
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
