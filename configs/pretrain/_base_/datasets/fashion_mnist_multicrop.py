# Fashion-MNIST for the CPU demo (the image folder written by
# tools/dataset_converters/fashion_mnist_to_imagefolder.py): the paper's
# views of ./mst_multicrop.py scaled to 32 px global and 16 px local crops
# of the 28 x 28 images, 4 local crops, on the CPU input path (the fast
# path's helpers inherited from ./mst_multicrop.py stay at ImageNet's
# scale), and the weighted k-NN evaluation's loaders.
_base_ = './mst_multicrop.py'

data_root = 'data/fashion_mnist'
global_size = 32
local_size = 16
local_crop_scale = (0.1, 0.4)
num_local_crops = 4
# DINO blurs 224 px crops with sigma in (0.1, 2.0); 32 px crops get the same
# blur relative to their size.
blur_sigma = (0.1 * global_size / 224, 2.0 * global_size / 224)


def rescaled(view, size, crop_scale):
    """The paper's view with its crop size, crop scale and blur changed;
    flips, jitter, grey, blur and solarize probabilities stay as they are
    (jitter of saturation and hue, and grey, do nothing on grey images)."""
    changes = dict(
        RandomResizedCrop=dict(scale=size, crop_ratio_range=crop_scale),
        GaussianBlur=dict(magnitude_range=blur_sigma))
    return [dict(t, **changes.get(t['type'], {})) for t in view]


global_crop_scale = _base_.global_crop_scale  # the paper's (0.4, 1.0)
global_view_1 = rescaled(_base_.global_view_1, global_size, global_crop_scale)
global_view_2 = rescaled(_base_.global_view_2, global_size, global_crop_scale)
local_view = rescaled(_base_.local_view, local_size, local_crop_scale)
train_pipeline = [
    dict(type='LoadImageFromFile'),  # grey PNGs are loaded as 3 channels
    dict(
        type='MultiView',
        num_views=[1, 1, num_local_crops],
        transforms=[global_view_1, global_view_2, local_view]),
    dict(type='PackInputs'),
]
# Fashion-MNIST's pixel statistics (0.286 and 0.353 of 255).
cpu_data_preprocessor = dict(mean=[72.94] * 3, std=[90.02] * 3)
train_dataloader = dict(
    batch_size=128,
    num_workers=2,
    pin_memory=False,
    dataset=dict(
        type='CustomDataset',
        data_root=data_root,
        data_prefix='train',
        pipeline=train_pipeline))

# Weighted k-NN (tools/knn_eval.py, OnlineKNNHook): the converted train split
# is the memory bank, the test split the queries, whole images resized to
# the global crop size.
knn_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='Resize',
        scale=global_size,
        interpolation='bicubic',
        backend='pillow'),
    dict(type='PackInputs'),
]
knn_loader = dict(
    _base_.knn_loader,
    num_workers=2,
    dataset=dict(
        type='CustomDataset',
        data_root=data_root,
        data_prefix='train',
        pipeline=knn_pipeline))
knn_evaluation = dict(
    train_dataloader=knn_loader,
    val_dataloader=dict(
        knn_loader, dataset=dict(knn_loader['dataset'], data_prefix='test')))
