# ImageNet-1k for MST pre-training: the multi-crop input of
# ./mst_multicrop.py (CPU path by default) on the train split, and the
# weighted k-NN evaluation's loaders.
_base_ = './mst_multicrop.py'

dataset_type = 'ImageNet'
data_root = 'data/imagenet/'

# 8 GPUs x 128 = 1024 images per iteration (Sec. 4.1).
train_dataloader = dict(
    batch_size=128,
    num_workers=10,
    pin_memory=True,
    dataset=dict(type=dataset_type, data_root=data_root, split='train'))

# Weighted k-NN (Appendix D): tools/knn_eval.py CONFIG CHECKPOINT. The train
# split is the memory bank, val the queries; DINO's resize 256 (bicubic) and
# centre crop 224.
knn_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='ResizeEdge',
        scale=256,
        edge='short',
        backend='pillow',
        interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
knn_loader = dict(
    _base_.knn_loader,
    num_workers=10,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        pipeline=knn_pipeline))
knn_evaluation = dict(
    train_dataloader=knn_loader,
    val_dataloader=dict(
        knn_loader, dataset=dict(knn_loader['dataset'], split='val')))
