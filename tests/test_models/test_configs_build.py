"""Every shipped pre-training and probing config loads and builds."""
import ast
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mst_mm  # noqa: F401


def test_config_builds(pretrain_config):
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(pretrain_config)
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    n_params = sum(p.numel() for p in model.backbone.parameters())
    if 'deit-s' in osp.basename(pretrain_config):
        # DeiT-S/16: 21.7M parameters (+ the 384 of the [MASK] token).
        assert 21.6e6 < n_params < 21.8e6
    if cfg.model.type == 'MST':
        assert cfg.model.masker is None or cfg.model.masker.type in (
            'AttentionGuidedMasker', 'RandomMasker')
        assert model.teacher.module.backbone.mask_token is None
        # The normalisation is set inside `model` (tools build cfg.model
        # without a runner, which would merge a top-level one).
        pre = cfg.model.data_preprocessor
        assert len(pre.mean) == len(pre.std) == 3
        # Without a decoder there is nothing to restore: the DINO configs
        # leave lambda2 to the algorithm.
        if cfg.model.neck is None:
            assert model.restore_weight == 0.
    del model
    torch.cuda.empty_cache()


def test_paper_numbers_in_the_main_configs(repo_root):
    cfg = Config.fromfile(
        osp.join(repo_root, 'configs/pretrain/mst_deit-s_300e.py'))
    m = cfg.model
    assert (m.distill_weight, m.restore_weight) == (1.0, 0.6)
    assert (m.masker.num, m.masker.p) == (8, 0.1)
    assert m.head.out_channels == 65536 and m.head.hidden_channels == 2048
    assert m.head.bottleneck_channels == 256 and m.head.use_bn
    assert m.distill_loss.student_temp == 0.1
    assert (m.distill_loss.warmup_teacher_temp, m.distill_loss.teacher_temp,
            m.distill_loss.warmup_teacher_temp_epochs) == (0.04, 0.07, 30)
    assert m.distill_loss.center_momentum == 0.9
    assert (m.base_momentum, m.end_momentum) == (0.004, 0.)  # 0.996 -> 1
    assert m.backbone.drop_path_rate == 0.1
    assert cfg.optim_wrapper.optimizer.lr == pytest.approx(2e-3)
    assert cfg.optim_wrapper.optimizer.weight_decay == 0.04
    assert cfg.optim_wrapper.dtype == 'bfloat16'
    assert cfg.train_dataloader.batch_size * 8 == 1024
    warmup, cosine, wd = cfg.param_scheduler
    assert (warmup.type, warmup.end) == ('LinearLR', 10)
    assert (cosine.type, cosine.eta_min, cosine.end) == ('CosineAnnealingLR',
                                                         1e-6, 300)
    assert (wd.type, wd.eta_min) == ('CosineAnnealingWeightDecay', 0.4)
    hooks = {h.type: h for h in cfg.custom_hooks}
    assert hooks['FreezeLastLayerHook'].freeze_epochs == 1
    assert hooks['PerParameterGradClipHook'].max_norm == 3.0
    views = cfg.train_pipeline[1]
    assert views.num_views == [1, 1, 8]
    g1, g2, local = views.transforms
    assert g1[0].scale == 224 and g1[0].crop_ratio_range == (0.4, 1.0)
    assert local[0].scale == 96 and local[0].crop_ratio_range == (0.05, 0.4)
    blur = {
        t.type: t
        for t in g1
    }['GaussianBlur'].prob, {
        t.type: t
        for t in g2
    }['GaussianBlur'].prob, {
        t.type: t
        for t in local
    }['GaussianBlur'].prob
    assert blur == (1.0, 0.1, 0.5)
    assert {t.type: t for t in g2}['Solarize'].prob == 0.2
    assert cfg.knn_evaluation.ks == (10, 20, 100, 200)
    assert cfg.knn_evaluation.temperature == 0.07


# Table 4 compares the strategies "with the same probability p"; its numbers
# are Table 5's p = 0.05 cells: num = 1 (every token a candidate, i.e. the
# random mask) 63.2 and num = 2 73.7. No mask is 73.1.
TABLE4 = {
    'no-mask': (None, None, None, '73.1'),
    'random-mask': ('RandomMasker', None, 0.05, '63.2'),
    'attention-guided': ('AttentionGuidedMasker', 2, 0.05, '73.7'),
}


@pytest.mark.parametrize('row', sorted(TABLE4))
def test_table4_configs_match_the_paper_setting(row, repo_root):
    path = osp.join(repo_root, 'configs', 'pretrain', 'ablations',
                    f'mst_deit-s_100e_table4-{row}.py')
    masker_type, num, p, quoted = TABLE4[row]
    masker = Config.fromfile(path).model.masker
    if masker_type is None:
        assert masker is None
    else:
        assert masker.type == masker_type
        assert masker.p == p
        if num is not None:
            assert masker.num == num
    with open(path) as f:
        assert f'Paper: linear {quoted}' in f.read()


def test_imagenet_configs_default_to_the_fast_input_path(tmp_path, repo_root):
    """The workers crop and flip, the preprocessor applies exactly the CPU
    views' other transforms; a JPEG folder goes through both."""
    import cv2
    from mmengine.dataset import default_collate
    from mmpretrain.registry import DATASETS, MODELS
    cfg = Config.fromfile(
        osp.join(repo_root, 'configs/pretrain/mst_deit-s_300e.py'))
    geometric = ('RandomResizedCrop', 'RandomFlip')
    views = [cfg.global_view_1, cfg.global_view_2, cfg.local_view]
    multi_view = cfg.train_dataloader.dataset.pipeline[1]
    pre = cfg.model.data_preprocessor
    assert pre.type == 'MultiCropDataPreprocessor'
    assert multi_view.num_views == pre.num_views == [1, 1, 8]
    for view, loader, device in zip(views, multi_view.transforms,
                                    pre.transforms):
        # The crops' resize is OpenCV's (see the next test); nothing else
        # differs.
        assert loader == [
            dict(t, backend='cv2', interpolation='area')
            if t.type == 'RandomResizedCrop' else t for t in view
            if t.type in geometric
        ]
        assert device == [t for t in view if t.type not in geometric]
        assert len(loader) + len(device) == len(view)
    for i in range(2):
        img = np.random.default_rng(i).integers(0, 255, (300, 375, 3))
        assert cv2.imwrite(str(tmp_path / f'{i}.jpg'), img.astype(np.uint8))
    init_default_scope('mmpretrain')
    dataset = DATASETS.build(
        dict(
            type='CustomDataset',
            data_root=str(tmp_path),
            with_label=False,
            pipeline=cfg.train_dataloader.dataset.pipeline))
    batch = default_collate([dataset[0], dataset[1]])
    assert all(v.dtype == torch.uint8 for v in batch['inputs'])
    out = MODELS.build(pre)(batch, True)['inputs']
    assert [tuple(v.shape)
            for v in out] == [(2, 3, 224, 224)] * 2 + [(2, 3, 96, 96)] * 8
    assert all(v.dtype == torch.float32 for v in out)


@pytest.mark.parametrize('name', [
    'mst_deit-s_100e_cpu-augment.py', 'mst_vit-tiny-p4_fashion-mnist.py',
    'dino_vit-tiny-p4_fashion-mnist.py'
])
def test_cpu_input_path_configs(name, repo_root):
    """The CPU path: every transform on the workers, the plain
    preprocessor (Fashion-MNIST stays on it: it builds its own views)."""
    cfg = Config.fromfile(osp.join(repo_root, 'configs/pretrain', name))
    assert cfg.model.data_preprocessor.type == 'SelfSupDataPreprocessor'
    for view in cfg.train_dataloader.dataset.pipeline[1].transforms:
        assert [t.type for t in view][:5] == [
            'RandomResizedCrop', 'RandomFlip', 'RandomApply',
            'RandomGrayscale', 'GaussianBlur'
        ]


def test_fast_path_crops_match_the_cpu_path_crops(repo_root):
    """Same crop parameters (the same random draws) and, with OpenCV's
    area interpolation instead of Pillow's bicubic, nearly the same
    pixels."""
    from mmcv.transforms import Compose
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(
        osp.join(repo_root, 'configs/pretrain/mst_deit-s_300e.py'))
    yy, xx = np.mgrid[0:375, 0:500]
    img = 127 + 60 * np.sin(0.05 * xx) * np.cos(0.03 * yy)
    img = np.stack([img, img[::-1], img[:, ::-1]], -1)
    img = img + np.random.default_rng(0).normal(0, 10, img.shape)
    img = np.clip(img, 0, 255).astype(np.uint8)
    fast_views = cfg.fast_train_pipeline[1].transforms
    for cpu_view, fast_view in ((cfg.global_view_1, fast_views[0]),
                                (cfg.local_view, fast_views[2])):
        crops = {}
        for name, crop in (('cpu', cpu_view[0]), ('fast', fast_view[0])):
            np.random.seed(0)
            crops[name] = [
                Compose([crop])(dict(img=img.copy()))['img'].astype(float)
                for _ in range(5)
            ]
        for cpu, fast in zip(crops['cpu'], crops['fast']):
            assert cpu.shape == fast.shape
            assert np.abs(cpu - fast).mean() < 2.0


def _base_files(path):
    """The config files a config names in `_base_`."""
    with open(path) as f:
        tree = ast.parse(f.read())
    base, = [
        node.value for node in tree.body if isinstance(node, ast.Assign)
        and getattr(node.targets[0], 'id', None) == '_base_'
    ]
    return ast.literal_eval(base)


def test_fashion_mnist_shares_the_model_and_schedule_of_imagenet(repo_root):
    """The demo inherits the DeiT-S recipe's model, schedule and runtime
    pieces and brings only its own dataset piece; its schedule differs from
    the 300-epoch one in its epochs only."""
    paths = {
        name: osp.join(repo_root, 'configs/pretrain', name)
        for name in ('mst_deit-s_300e.py', 'mst_vit-tiny-p4_fashion-mnist.py')
    }
    imagenet, fashion = (_base_files(p) for p in paths.values())
    shared = [
        './_base_/models/mst_deit-s.py',
        './_base_/schedules/mst_adamw_cosine_300e.py',
        './_base_/default_runtime.py'
    ]
    assert [b for b in imagenet if b in shared] == shared
    assert [b for b in fashion if b in shared] == shared
    assert set(imagenet) - set(shared) == {
        './_base_/datasets/imagenet_multicrop.py'
    }
    assert set(fashion) - set(shared) == {
        './_base_/datasets/fashion_mnist_multicrop.py'
    }
    full, demo = (Config.fromfile(p) for p in paths.values())
    epochs = ('begin', 'end', 'T_max')
    assert len(full.param_scheduler) == len(demo.param_scheduler) == 3
    for a, b in zip(full.param_scheduler, demo.param_scheduler):
        assert {k: v for k, v in a.items() if k not in epochs} == \
            {k: v for k, v in b.items() if k not in epochs}
    assert (demo.param_scheduler[1].begin, demo.param_scheduler[1].end,
            demo.train_cfg.max_epochs) == (1, 6, 6)
    for key in ('type', 'restore_loss', 'masker', 'distill_weight',
                'restore_weight', 'end_momentum'):
        assert demo.model[key] == full.model[key], key
    assert demo.model.backbone.type == full.model.backbone.type


def test_knn_loaders_differ_in_their_split_only(repo_configs, data_config):
    """The memory bank and the queries come from one loader dict: same
    dataset type, root, pipeline, batch and sampler; train split vs
    val/test. Every pre-training config (the probing benchmarks have no
    k-NN) and the tests' tiny one."""
    for path in repo_configs(
            'pretrain', 'pretrain/ablations') + [data_config('mst_tiny.py')]:
        _check_knn_loaders(path)


def _check_knn_loaders(path):
    knn = Config.fromfile(path).knn_evaluation
    bank, queries = knn.train_dataloader, knn.val_dataloader
    split = 'split' if 'split' in bank.dataset else 'data_prefix'
    assert (bank.dataset[split], queries.dataset[split]) in (('train', 'val'),
                                                             ('train', 'test'))
    assert dict(bank, dataset=dict(bank.dataset, **{split: None})) == \
        dict(queries, dataset=dict(queries.dataset, **{split: None}))
    assert bank.sampler.shuffle is False
