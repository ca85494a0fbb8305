# The project's Mask R-CNN Swin-T COCO config, shrunk to run on CPU in
# seconds: a 16-dim, one-block-per-stage Swin on 64 px images, few proposals
# and detections, 80 COCO classes. Tests build a tiny COCO layout
# (annotations/instances_val2017.json + val2017/) and point the loaders and
# the evaluator at it with --cfg-options; the path below does not exist.
_base_ = [
    '../../../configs/detection/'
    'mask-rcnn_mst-swin-t-p4-w7-pre100e_fpn_1x_coco.py'
]
data_root = 'data/tiny_coco_missing/'

model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True,
            embed_dims=16,
            depths=(1, 1, 1, 1),
            num_heads=(1, 1, 2, 2)),
        img_size=64,
        init_cfg=None),
    neck=dict(in_channels=[16, 32, 64, 128]),
    test_cfg=dict(
        rpn=dict(nms_pre=50, max_per_img=20), rcnn=dict(max_per_img=5)))

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(64, 64), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator
