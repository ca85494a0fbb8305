# MST with Swin-T on ImageNet-1k, 100 epochs, with DeiT-S's hyper-parameters
# ("Swin-T shares the same hyperparameters with DeiT-S", Sec. 4.2).
# Paper (Table 1): linear 73.8, k-NN 66.2 (MoBY at 100 epochs: 70.9 / 57.3).
# Its exported backbone is what configs/detection/ fine-tunes (Table 2:
# 42.7 box AP / 38.8 mask AP).
#   tools/dist_train.sh configs/pretrain/mst_swin-t_100e.py 8
#   python tools/model_converters/mst_to_backbone.py \
#       work_dirs/mst_swin-t_100e/epoch_100.pth \
#       work_dirs/mst_swin-t_100e/backbone.pth
#
# Swin has no cls token: the masks live on the 56 x 56 patch-embedding grid
# and the teacher's importance map is the pooled query's attention in the
# last block (7 x 7), up-sampled; see MSTSwin's docstring.
_base_ = './mst_deit-s_100e.py'

embed_dims = 768  # Swin-T's last stage
model = dict(
    backbone=dict(
        _delete_=True,
        type='MSTSwin',
        arch='tiny',  # 96 dims, depths (2, 2, 6, 2), heads (3, 6, 12, 24)
        img_size=224,
        window_size=7,
        drop_path_rate=0.1,  # student only; the teacher has none
        out_indices=(3, ),
        pad_small_map=True),  # 96 px local crops end at 3 x 3 < window 7
    # Stride 32: 5 x (Conv-BN-ReLU, 2x up) from 7 x 7 back to 224 x 224.
    neck=dict(
        in_channels=embed_dims,
        patch_size=32,
        channels=(512, 256, 128, 64, 32)),
    head=dict(in_channels=embed_dims))
