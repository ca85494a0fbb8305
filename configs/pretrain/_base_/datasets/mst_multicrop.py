# MST's multi-crop input, without a dataset: the paper's augmentation views,
# the two input paths that apply them, their data preprocessors and the
# loader settings. The dataset pieces beside this file (imagenet_multicrop.py,
# fashion_mnist_multicrop.py) add the data; a runnable config selects a path.

# Multi-crop (SwAV/DINO) with BYOL's augmentations (Appendix B): 2 global
# 224 px crops with different blur/solarize probabilities, 8 local 96 px.
global_crop_scale = (0.4, 1.0)
local_crop_scale = (0.05, 0.4)
num_local_crops = 8
color_jitter = dict(
    type='RandomApply',
    transforms=[
        dict(
            type='ColorJitter',
            brightness=0.4,
            contrast=0.4,
            saturation=0.2,
            hue=0.1)
    ],
    prob=0.8)
grayscale = dict(
    type='RandomGrayscale',
    prob=0.2,
    keep_channels=True,
    channel_weights=(0.114, 0.587, 0.2989))


def random_resized_crop(size, scale):
    return dict(
        type='RandomResizedCrop',
        scale=size,
        crop_ratio_range=scale,
        interpolation='bicubic',
        backend='pillow')


def gaussian_blur(prob):
    return dict(
        type='GaussianBlur',
        magnitude_range=(0.1, 2.0),
        magnitude_std='inf',
        prob=prob)


photometric = [dict(type='RandomFlip', prob=0.5), color_jitter, grayscale]
# BYOL's asymmetric views: always blurred / rarely blurred but solarized.
global_view_1 = [
    random_resized_crop(224, global_crop_scale), *photometric,
    gaussian_blur(1.0),
    dict(type='Solarize', thr=128, prob=0.0)
]
global_view_2 = [
    random_resized_crop(224, global_crop_scale), *photometric,
    gaussian_blur(0.1),
    dict(type='Solarize', thr=128, prob=0.2)
]
local_view = [
    random_resized_crop(96, local_crop_scale), *photometric,
    gaussian_blur(0.5)
]


def multi_crop_pipeline(views):
    return [
        dict(type='LoadImageFromFile'),
        dict(
            type='MultiView',
            num_views=[1, 1, num_local_crops],
            transforms=views),
        dict(type='PackInputs'),
    ]


train_pipeline = multi_crop_pipeline(
    [global_view_1, global_view_2, local_view])

# Two input paths with the same random distributions:
# - CPU path (`train_pipeline`, `cpu_data_preprocessor`): the views above,
#   every transform on the data-loader workers; the reference.
# - Fast path (`fast_train_pipeline`, `fast_data_preprocessor`): the workers
#   only decode, crop and flip (uint8 crops at their final size); the
#   views' photometric transforms, the same config dicts, run batched on the
#   device in MultiCropDataPreprocessor (several times the images per CPU
#   core, see the README's "Input pipeline" section).
# The dataset pieces default to the CPU path; a runnable config selects a
# path with two lines, the pipeline of `train_dataloader.dataset` and
# `model.data_preprocessor`: ../../mst_deit-s_300e.py (and the ImageNet
# configs built on it) the fast path, ../../mst_deit-s_100e_cpu-augment.py
# the CPU path. The configs that build their own views (Fashion-MNIST, the
# tests' tiny runs) stay on the CPU path.
geometric_types = ('RandomResizedCrop', 'RandomFlip')


def geometric_part(view):
    # Pillow's bicubic resize (antialiased) is ~85% of the fast path's CPU
    # time; OpenCV's area interpolation is ~4x cheaper and, for these mostly
    # down-scaling crops, within about one grey level (mean) of Pillow's
    # (OpenCV's bicubic aliases: 3-4 levels). Crop parameters are unchanged.
    return [
        dict(t, backend='cv2', interpolation='area')
        if t['type'] == 'RandomResizedCrop' else t for t in view
        if t['type'] in geometric_types
    ]


def photometric_part(view):
    return [t for t in view if t['type'] not in geometric_types]


fast_train_pipeline = multi_crop_pipeline([
    geometric_part(global_view_1),
    geometric_part(global_view_2),
    geometric_part(local_view)
])
cpu_data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)
fast_data_preprocessor = dict(
    cpu_data_preprocessor,
    type='MultiCropDataPreprocessor',
    num_views=[1, 1, num_local_crops],
    transforms=[
        photometric_part(global_view_1),
        photometric_part(global_view_2),
        photometric_part(local_view)
    ])

train_dataloader = dict(
    # Workers restart every epoch and seed from the epoch's iterator seed
    # (part of the checkpoint), so a resumed run augments exactly like an
    # uninterrupted one; persistent workers would continue streams that a
    # resume cannot restore.
    persistent_workers=False,
    worker_init_fn=dict(type='resumable_worker_init_fn'),
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(pipeline=train_pipeline))

# Weighted k-NN (Appendix D; tools/knn_eval.py CONFIG CHECKPOINT and
# OnlineKNNHook) with k = 10/20/100/200 and T = 0.07. Each dataset piece
# completes `knn_loader` (the memory bank: its train split) and derives the
# queries' loader from it by changing the split only.
knn_loader = dict(
    batch_size=256, sampler=dict(type='DefaultSampler', shuffle=False))
knn_evaluation = dict(ks=(10, 20, 100, 200), temperature=0.07)
