"""The COCO (Mask R-CNN) and Cityscapes (SETR) transfer configs load, build
with mmpretrain backbones, give the shapes their necks/heads expect, and load
an exported `backbone.`-prefixed checkpoint through init_cfg."""
import os.path as osp

import pytest
import torch

DET_CONFIG = ('configs/detection/'
              'mask-rcnn_mst-swin-t-p4-w7-pre100e_fpn_1x_coco.py')
SEG_CONFIG = ('configs/segmentation/'
              'setr_mst-deit-s-p16-pre100e_pup_8xb1-40k_cityscapes-768x768.py')


def load_config(repo_root, rel_path, checkpoint=None):
    """Config.fromfile (its custom_imports import mmpretrain.models and
    mst_mm) with the backbone's pretrained checkpoint replaced: by
    ``checkpoint``, or by no init_cfg at all so nothing is loaded."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(repo_root, rel_path))
    if checkpoint is None:
        cfg.model.backbone.init_cfg = None
    else:
        cfg.model.backbone.init_cfg.checkpoint = checkpoint
    return cfg


def build_model(cfg):
    """Build ``cfg.model`` in the toolbox scope the config inherits."""
    from mmengine.registry import DefaultScope
    scope = cfg.default_scope
    if scope == 'mmdet':
        from mmdet.registry import MODELS
        from mmdet.utils import register_all_modules
    else:
        assert scope == 'mmseg', scope
        from mmseg.registry import MODELS
        from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope(scope):
        return MODELS.build(cfg.model)


def save_backbone_checkpoint(backbone, path):
    """Write ``backbone``'s weights as an exported pre-training backbone:
    keys ``backbone.<name>`` under ``state_dict``."""
    state_dict = {
        f'backbone.{k}': v.detach().clone()
        for k, v in backbone.state_dict().items()
    }
    torch.save(dict(meta=dict(), state_dict=state_dict), path)
    return state_dict


def param_groups_by_name(model, cfg):
    """Build the config's optimizer for ``model``; map parameter name to its
    param group (the default constructor makes one group per parameter)."""
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    group_of = {id(g['params'][0]): g for g in optim_wrapper.param_groups}
    return {
        name: group_of[id(param)]
        for name, param in model.named_parameters()
    }


@pytest.fixture(scope='module')
def det_cfg(repo_root):
    return load_config(repo_root, DET_CONFIG)


@pytest.fixture(scope='module')
def det_model(det_cfg):
    return build_model(det_cfg)


@pytest.fixture(scope='module')
def seg_cfg(repo_root):
    return load_config(repo_root, SEG_CONFIG)


@pytest.fixture(scope='module')
def seg_model(seg_cfg):
    return build_model(seg_cfg)


# --------------------------------------------------------------- detection
def test_detection_config_keeps_the_recipe(det_cfg):
    cfg = det_cfg
    backbone = cfg.model.backbone
    assert cfg.default_scope == 'mmdet'
    assert cfg.custom_imports.imports == ['mmpretrain.models', 'mst_mm']
    assert backbone.type == 'mmpretrain.SwinTransformer'
    assert backbone.arch == 'tiny'
    assert tuple(backbone.out_indices) == (0, 1, 2, 3)
    assert backbone.drop_path_rate == 0.2
    assert 'convert_weights' not in backbone  # no mmdet Swin leftovers
    # What MST does not change stays mmdet's Swin-T 1x recipe.
    assert cfg.model.neck.in_channels == [96, 192, 384, 768]
    assert cfg.train_cfg.max_epochs == 12
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    assert cfg.optim_wrapper.optimizer.lr == 1e-4
    assert cfg.param_scheduler[1].milestones == [8, 11]


def test_detection_model_builds_and_gives_five_fpn_levels(det_model):
    from mmpretrain.models import SwinTransformer

    model = det_model

    assert type(model).__name__ == 'MaskRCNN'
    assert isinstance(model.backbone, SwinTransformer)
    assert model.backbone.embed_dims == 96
    assert model.backbone.num_features == [96, 192, 384, 768]

    model.eval()
    with torch.no_grad():
        feats = model.backbone(torch.rand(1, 3, 64, 64))
        assert [f.shape[1] for f in feats] == [96, 192, 384, 768]
        assert [f.shape[-1] for f in feats] == [16, 8, 4, 2]
        outs = model.neck(feats)
    assert len(outs) == 5
    assert [tuple(o.shape) for o in outs] == [(1, 256, s, s)
                                              for s in (16, 8, 4, 2, 1)]


def test_detection_optimizer_keeps_the_recipe_decay_rules(det_cfg, det_model):
    """The recipe exempts norms and relative position bias tables from weight
    decay by name: mmpretrain's Swin must match those names too."""
    groups = param_groups_by_name(det_model, det_cfg)
    backbone = {k: g for k, g in groups.items() if k.startswith('backbone.')}
    no_decay = {k for k, g in backbone.items() if g['weight_decay'] == 0}
    assert 'backbone.stages.0.blocks.0.norm1.weight' in no_decay
    assert 'backbone.stages.2.downsample.norm.weight' in no_decay
    assert 'backbone.patch_embed.norm.weight' in no_decay
    assert 'backbone.norm3.bias' in no_decay
    assert ('backbone.stages.1.blocks.1.attn.w_msa.'
            'relative_position_bias_table') in no_decay
    # 2 LNs per block (12 blocks), 3 patch-merging LNs, the patch-embedding
    # LN and 4 output LNs, weight and bias each, plus 12 bias tables.
    assert len(no_decay) == 2 * (2 * 12 + 3 + 1 + 4) + 12
    assert backbone['backbone.stages.2.blocks.0.attn.w_msa.qkv.weight'][
        'weight_decay'] == 0.05


def test_detection_init_cfg_loads_the_backbone_prefix(repo_root, tmp_path):
    from mmpretrain.models import SwinTransformer

    torch.manual_seed(0)
    exported = SwinTransformer(arch='tiny')  # a pre-training backbone
    with torch.no_grad():  # a LayerNorm weight that is not the default 1
        exported.norm3.weight.uniform_(0.5, 1.5)
    ckpt = str(tmp_path / 'mst_swin-t_backbone.pth')
    state_dict = save_backbone_checkpoint(exported, ckpt)

    model = build_model(load_config(repo_root, DET_CONFIG, checkpoint=ckpt))
    qkv = 'stages.2.blocks.3.attn.w_msa.qkv.weight'
    before = model.backbone.state_dict()[qkv].clone()
    assert not torch.equal(before, state_dict[f'backbone.{qkv}'])

    # What the runner's model.init_weights() does for the backbone (the
    # whole detector's random init of its heads takes seconds on CPU).
    model.backbone.init_weights()

    loaded = model.backbone.state_dict()
    assert not torch.equal(loaded[qkv], before)
    for key, value in state_dict.items():
        assert torch.equal(loaded[key[len('backbone.'):]], value), key
    # norm0..norm2 exist only in the detection backbone (its extra outputs).
    assert set(loaded) - {k[len('backbone.'):]
                          for k in state_dict} == {
                              f'norm{i}.{p}'
                              for i in range(3)
                              for p in ('weight', 'bias')
                          }


def test_detection_window_size_change_resizes_the_bias_tables(
        repo_root, tmp_path):
    """A detection config with window 12 loads a window-7 pre-training
    backbone: mmpretrain resizes every relative-position bias table from
    13 x 13 to 23 x 23 offsets (scipy's interp2d, hence the SciPy pin)."""
    import scipy
    from mmengine.utils import digit_version
    from mmpretrain.models import SwinTransformer

    assert digit_version(scipy.__version__) < digit_version('1.14.0'), (
        f'SciPy {scipy.__version__}: requirements/pins.txt says scipy<1.14')
    torch.manual_seed(0)
    exported = SwinTransformer(arch='tiny', window_size=7)
    with torch.no_grad():  # tables are zero-initialised: give them values
        for name, param in exported.named_parameters():
            if name.endswith('relative_position_bias_table'):
                param.normal_(std=0.5)
    ckpt = str(tmp_path / 'mst_swin-t-w7_backbone.pth')
    state_dict = save_backbone_checkpoint(exported, ckpt)

    cfg = load_config(repo_root, DET_CONFIG, checkpoint=ckpt)
    cfg.model.backbone.window_size = 12
    model = build_model(cfg)
    model.backbone.init_weights()
    loaded = model.backbone.state_dict()

    tables = [k for k in loaded if k.endswith('relative_position_bias_table')]
    assert len(tables) == 12  # one per block
    for key in tables:
        source = state_dict[f'backbone.{key}']
        heads = source.shape[1]
        assert source.shape == (13 * 13, heads)
        assert loaded[key].shape == (23 * 23, heads), key
        # The resize interpolates through the source grid, whose offset 0
        # (centre) stays at offset 0: the centre value arrives unchanged.
        torch.testing.assert_close(loaded[key].view(23, 23, heads)[11, 11],
                                   source.view(13, 13, heads)[6, 6])
        assert not torch.allclose(loaded[key], torch.zeros_like(loaded[key]))
    # Everything but the tables (and the index buffers) loads as is.
    qkv = 'stages.2.blocks.3.attn.w_msa.qkv.weight'
    assert torch.equal(loaded[qkv], state_dict[f'backbone.{qkv}'])
    with torch.no_grad():
        feats = model.backbone(torch.rand(1, 3, 96, 96))
    assert [f.shape[-1] for f in feats] == [24, 12, 6, 3]


# ------------------------------------------------------------ segmentation
def test_segmentation_config_keeps_the_recipe(seg_cfg):
    cfg = seg_cfg
    assert cfg.default_scope == 'mmseg'
    assert cfg.model.pretrained is None
    backbone = cfg.model.backbone
    assert backbone.type == 'mmpretrain.VisionTransformer'
    assert backbone.arch == 'deit-small'
    assert backbone.out_type == 'featmap'
    assert cfg.model.decode_head.in_channels == 384
    assert cfg.model.decode_head.in_index == 3
    assert [h.in_channels for h in cfg.model.auxiliary_head] == [384] * 3
    assert [h.in_index for h in cfg.model.auxiliary_head] == [0, 1, 2]
    # The PUP recipe's auxiliary heads, only narrower.
    assert all(h.num_convs == 2 and h.up_scale == 4
               for h in cfg.model.auxiliary_head)
    assert cfg.train_cfg.max_iters == 40000
    assert cfg.train_cfg.val_interval == 4000
    assert cfg.param_scheduler[0].end == 40000
    assert cfg.default_hooks.checkpoint.interval == 4000
    assert cfg.optim_wrapper.optimizer.type == 'SGD'
    assert cfg.model.test_cfg.mode == 'slide'


def test_segmentation_model_builds_and_gives_four_feature_maps(seg_model):
    from mmpretrain.models import VisionTransformer

    model = seg_model

    assert type(model).__name__ == 'EncoderDecoder'
    assert isinstance(model.backbone, VisionTransformer)
    assert model.backbone.embed_dims == 384
    assert model.backbone.num_layers == 12
    assert list(model.backbone.out_indices) == [4, 7, 9, 11]
    assert model.backbone.pos_embed.shape == (1, 48 * 48 + 1, 384)

    model.eval()
    with torch.no_grad():
        feats = model.backbone(torch.rand(1, 3, 64, 64))
    assert len(feats) == 4
    assert all(tuple(f.shape) == (1, 384, 4, 4) for f in feats)


def test_segmentation_optimizer_gives_10x_lr_to_heads_only(seg_cfg, seg_model):
    """The recipe's `head` lr multiplier matches by name: no parameter of
    mmpretrain's ViT may contain `head`."""
    groups = param_groups_by_name(seg_model, seg_cfg)
    for name, group in groups.items():
        expected = 0.1 if 'head' in name.split('.')[0] else 0.01
        assert group['lr'] == pytest.approx(expected), name
    assert any(k.startswith('auxiliary_head.2.') for k in groups)


def test_segmentation_init_cfg_loads_the_backbone_prefix(repo_root, tmp_path):
    from mmpretrain.models import VisionTransformer

    torch.manual_seed(0)
    exported = VisionTransformer(arch='deit-small', img_size=224)
    with torch.no_grad():
        exported.pos_embed.normal_(std=0.02)
        exported.cls_token.normal_(std=0.02)
    ckpt = str(tmp_path / 'mst_deit-s_backbone.pth')
    state_dict = save_backbone_checkpoint(exported, ckpt)

    model = build_model(load_config(repo_root, SEG_CONFIG, checkpoint=ckpt))
    model.backbone.init_weights()
    loaded = model.backbone.state_dict()

    for key, value in state_dict.items():
        key = key[len('backbone.'):]
        if key == 'pos_embed':
            # 14x14 patch grid of the 224 checkpoint resized to 48x48 (768).
            assert loaded[key].shape == (1, 48 * 48 + 1, 384)
            torch.testing.assert_close(loaded[key][:, 0], value[:, 0])
        elif key.startswith('ln1.'):
            assert key not in loaded  # final_norm=False: SETR heads norm
        else:
            assert torch.equal(loaded[key], value), key


@pytest.mark.parametrize('rel_path', [DET_CONFIG, SEG_CONFIG])
def test_wrong_prefix_fails_loudly(repo_root, tmp_path, rel_path):
    """A checkpoint without `backbone.` keys must not load silently."""
    ckpt = str(tmp_path / 'no_prefix.pth')
    torch.save(dict(state_dict={'stem.weight': torch.zeros(1)}), ckpt)
    model = build_model(load_config(repo_root, rel_path, checkpoint=ckpt))
    with pytest.raises(AssertionError, match='backbone. is not in'):
        model.backbone.init_weights()


def test_raw_mst_checkpoint_is_refused_or_loads_the_teacher(
        repo_root, tmp_path):
    """A pre-training runner checkpoint holds the student (`backbone.`) and
    the EMA teacher (`teacher.module.backbone.`). The default prefix would
    silently transfer the student: it is refused with the export command;
    the teacher's prefix loads the teacher."""
    from mmpretrain.models import VisionTransformer

    torch.manual_seed(0)
    student = VisionTransformer(arch='deit-small', img_size=224)
    teacher = VisionTransformer(arch='deit-small', img_size=224)
    with torch.no_grad():
        for p in teacher.parameters():
            p.add_(1.)
    state_dict = {f'backbone.{k}': v for k, v in student.state_dict().items()}
    state_dict.update({
        f'teacher.module.backbone.{k}': v
        for k, v in teacher.state_dict().items()
    })
    state_dict['backbone.mask_token'] = torch.zeros(1, 1, 384)
    ckpt = str(tmp_path / 'epoch_100.pth')
    torch.save(dict(meta=dict(epoch=100), state_dict=state_dict), ckpt)

    cfg = load_config(repo_root, SEG_CONFIG, checkpoint=ckpt)
    with pytest.raises(ValueError) as err:
        build_model(cfg).backbone.init_weights()
    assert ckpt in str(err.value) and 'student' in str(err.value)
    assert 'tools/model_converters/mst_to_backbone.py' in str(err.value)

    cfg.model.backbone.init_cfg.prefix = 'teacher.module.backbone.'
    model = build_model(cfg)
    model.backbone.init_weights()
    loaded = model.backbone.state_dict()
    key = 'layers.0.attn.qkv.weight'
    assert torch.equal(loaded[key], teacher.state_dict()[key])


def test_segmentation_pipelines_are_the_recipes_plus_the_label_check(
        repo_root, seg_cfg):
    import mmseg
    from mmengine.config import Config
    recipe = Config.fromfile(
        osp.join(
            osp.dirname(mmseg.__file__), '.mim', 'configs', 'setr',
            'setr_vit-l_pup_8xb1-80k_cityscapes-768x768.py'))
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        pipeline = seg_cfg[name].dataset.pipeline
        types = [t['type'] for t in pipeline]
        # right after the label map is loaded
        assert types[types.index('LoadAnnotations') + 1] == \
            'CheckSegLabelRange', name
        assert [t for t in pipeline if t['type'] != 'CheckSegLabelRange'
                ] == recipe[name].dataset.pipeline, name


def test_label_values_outside_the_classes_name_the_file(seg_cfg):
    import numpy as np
    from mmseg.registry import TRANSFORMS

    from mst_mm.datasets.check_seg_label_range import CheckSegLabelRange

    # registered where the config's default_scope (mmseg) finds it
    assert TRANSFORMS.module_dict['CheckSegLabelRange'] is CheckSegLabelRange
    check = CheckSegLabelRange(num_classes=19, ignore_index=255)
    good = np.array([[0, 18], [255, 7]], dtype=np.uint8)
    results = dict(gt_seg_map=good, seg_map_path='a_labelTrainIds.png')
    assert check(results) is results
    bad = dict(
        gt_seg_map=np.array([[0, 50], [255, 19]], dtype=np.uint8),
        seg_map_path='b_labelIds.png')
    with pytest.raises(
            ValueError,
            match=r'b_labelIds.png: label values \[19, 50\] are '
            r'not class ids; expected 0..18 or 255'):
        check(bad)


@pytest.mark.parametrize('rel_path', [DET_CONFIG, SEG_CONFIG])
def test_downstream_configs_are_seeded(repo_root, rel_path):
    """Fine-tuning is seeded like pre-training, so a number can be
    reproduced; cuDNN's non-deterministic kernels stay allowed."""
    cfg = load_config(repo_root, rel_path)
    assert cfg.randomness == dict(seed=0, deterministic=False)


@pytest.mark.parametrize('rel_path', [DET_CONFIG, SEG_CONFIG])
def test_config_header_names_the_export_to_its_checkpoint(repo_root, rel_path):
    """The header's commands go from a pre-training config that exists, via
    its last epoch's checkpoint in its default work dir, to exactly the
    backbone path the config reads."""
    import re

    from mmengine.config import Config
    with open(osp.join(repo_root, rel_path)) as f:
        header = f.read().split('_base_ =')[0]
    pretrain = re.search(r'dist_train\.sh (configs/pretrain/\S+\.py) 8',
                         header).group(1)
    export = re.search(r'mst_to_backbone\.py \\\s*#\s*(\S+) \\\s*#\s*(\S+)',
                       header)
    src, dst = export.groups()

    pretrain_cfg = Config.fromfile(osp.join(repo_root, pretrain))
    name = osp.splitext(osp.basename(pretrain))[0]
    assert src == (f'work_dirs/{name}/'
                   f'epoch_{pretrain_cfg.train_cfg.max_epochs}.pth')
    assert dst == Config.fromfile(osp.join(
        repo_root, rel_path)).model.backbone.init_cfg.checkpoint
    assert dst == f'work_dirs/{name}/backbone.pth'
