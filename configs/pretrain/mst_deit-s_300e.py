# MST, DeiT-S/16, 300 epochs on ImageNet-1k, 8 GPUs x 128 images, bf16.
# Paper (Table 1 / Table 9): linear 76.3 (cls token of the last layer),
# 76.9 (DINO's linear protocol), k-NN 75.0 (k=10, Table 7).
#   tools/dist_train.sh configs/pretrain/mst_deit-s_300e.py 8
_base_ = [
    './_base_/datasets/imagenet_multicrop.py',
    './_base_/models/mst_deit-s.py',
    './_base_/schedules/mst_adamw_cosine_300e.py',
    './_base_/default_runtime.py',
]

# The fast input path (./_base_/datasets/mst_multicrop.py): the workers
# decode, crop and flip; the photometric augmentation runs batched on the
# GPU, same distributions.
train_dataloader = dict(dataset=dict(pipeline=_base_.fast_train_pipeline))
model = dict(data_preprocessor=_base_.fast_data_preprocessor)
# bf16 autocast (fp16 diverges in DINO-style training).
optim_wrapper = dict(type='AmpOptimWrapper', dtype='bfloat16')
