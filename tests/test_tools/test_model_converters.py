"""tools/model_converters: MST backbone export and DINO checkpoint import.

The export is checked on a real runner checkpoint of the tiny MST config
(one epoch through tools/train.py): it loads strictly into mmpretrain's
``VisionTransformer`` and reproduces the teacher's (or student's) features.
The import is checked on synthetic checkpoints in DINO's published layouts
against a ViT forward written here from the raw timm-named tensors.
"""
import argparse
import json
import os.path as osp
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

# The tiny config's ViT: 2 blocks, 32 dims, 2 heads, MLP 64, 32 px / patch 8.
ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
DIMS, LAYERS, HEADS, FFN, PATCH, IMG = 32, 2, 2, 64, 8, 32
VIT = dict(arch=ARCH, img_size=IMG, patch_size=PATCH, out_type='cls_token')


@pytest.fixture(scope='module')
def export_tool(load_tool):
    return load_tool('model_converters/mst_to_backbone')


@pytest.fixture(scope='module')
def import_tool(load_tool):
    return load_tool('model_converters/dino_to_mst')


def build_vit(**kwargs):
    from mmpretrain.models import VisionTransformer
    vit = VisionTransformer(**VIT, **kwargs)
    vit.eval()  # mmpretrain's train() returns None: no chaining
    return vit


def strip(state_dict, prefix='backbone.'):
    assert all(k.startswith(prefix) for k in state_dict), list(state_dict)
    return {k[len(prefix):]: v for k, v in state_dict.items()}


def load_strictly(vit, state_dict):
    result = vit.load_state_dict(state_dict, strict=True)
    assert result.missing_keys == [] and result.unexpected_keys == []
    return vit


def read_plain(path):
    """``torch.load`` weights-only with nothing allow-listed."""
    allowed = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:
        checkpoint = torch.load(path, map_location='cpu', weights_only=True)
    finally:
        torch.serialization.add_safe_globals(allowed)
    assert set(checkpoint) == {'state_dict', 'meta'}
    assert all(torch.is_tensor(v) for v in checkpoint['state_dict'].values())
    json.dumps(checkpoint['meta'])  # small and JSON-able
    return checkpoint


# ------------------------------------------------------ MST export ----
@pytest.fixture(scope='module')
def mst_checkpoint(tmp_path_factory, train_tool, data_config):
    """Epoch 1 of the tiny MST config through tools/train.py (2 iters)."""
    root = tmp_path_factory.mktemp('converter_images')
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:40, 0:40]
    for i in range(8):
        base = np.sin(rng.uniform(0.1, 0.6) * (xx if i % 2 else yy))[..., None]
        img = (127 + 100 * base) * 0.5 + rng.uniform(0, 255, size=3) * 0.5
        img = np.clip(img + rng.normal(0, 8, img.shape), 0, 255)
        Image.fromarray(img.astype(np.uint8)).save(root / f'{i}.png')
    work_dir = str(tmp_path_factory.mktemp('converter_mst_run'))
    train_tool.main([
        data_config('mst_tiny.py'), '--work-dir', work_dir, '--cfg-options',
        f'train_dataloader.dataset.data_root={root}',
        'experiment_name=mst_converter_export', 'train_cfg.max_epochs=1'
    ])
    return osp.join(work_dir, 'epoch_1.pth')


@pytest.fixture(scope='module')
def mst_model(mst_checkpoint, data_config):
    """The MST model of the tiny config with the runner checkpoint."""
    from mmengine.config import Config
    from mmengine.runner import load_checkpoint
    from mmpretrain.registry import MODELS

    import mst_mm  # noqa: F401
    model = MODELS.build(Config.fromfile(data_config('mst_tiny.py')).model)
    load_checkpoint(model, mst_checkpoint, map_location='cpu', strict=True)
    model.eval()
    return model


@pytest.fixture(scope='module')
def teacher_export(export_tool, mst_checkpoint, tmp_path_factory):
    dst = str(tmp_path_factory.mktemp('export') / 'teacher.pth')
    export_tool.main([mst_checkpoint, dst])
    return dst


def test_teacher_export_is_a_plain_vit_with_the_teachers_features(
        teacher_export, mst_checkpoint, mst_model):
    checkpoint = read_plain(teacher_export)
    meta = checkpoint['meta']
    assert meta['network'] == 'teacher'
    assert (meta['epoch'], meta['iter']) == (1, 2)
    assert meta['source'] == osp.abspath(mst_checkpoint)
    assert meta['dropped_keys'] == []  # the teacher has no mask token
    assert (meta['embed_dims'], meta['num_layers']) == (DIMS, LAYERS)

    vit = load_strictly(build_vit(), strip(checkpoint['state_dict']))
    x = torch.randn(2, 3, IMG, IMG)
    with torch.no_grad():
        expected = mst_model.teacher.module.backbone(x)[0]
        torch.testing.assert_close(vit(x)[0], expected)
        # The teacher, not the student, was exported.
        assert not torch.allclose(mst_model.backbone(x)[0], expected)


def test_student_export_drops_the_mask_token(export_tool, mst_checkpoint,
                                             mst_model, tmp_path, capsys):
    dst = str(tmp_path / 'student.pth')
    meta = export_tool.main([mst_checkpoint, dst, '--student', '--no-prefix'])
    assert 'Dropped (not in a plain VisionTransformer): mask_token' in \
        capsys.readouterr().out
    checkpoint = read_plain(dst)
    assert meta == checkpoint['meta']
    assert meta['network'] == 'student'
    assert meta['dropped_keys'] == ['mask_token']
    assert meta['key_prefix'] == ''

    vit = load_strictly(build_vit(), checkpoint['state_dict'])
    x = torch.randn(2, 3, IMG, IMG)
    with torch.no_grad():
        torch.testing.assert_close(vit(x)[0], mst_model.backbone(x)[0])


def test_export_loads_as_pretrained_init_in_mmpretrain_mmdet_and_mmseg(
        teacher_export):
    """``init_cfg=dict(type='Pretrained', prefix='backbone.')`` loads with
    ``strict=False``, so compare every tensor; mmdet and mmseg configs build
    the backbone as ``mmpretrain.VisionTransformer`` from their registry."""
    from mmdet.registry import MODELS as MMDET_MODELS
    from mmengine.runner import load_checkpoint
    from mmpretrain.models import ImageClassifier
    from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
    from mmseg.registry import MODELS as MMSEG_MODELS

    exported = strip(read_plain(teacher_export)['state_dict'])
    init_cfg = dict(
        type='Pretrained', checkpoint=teacher_export, prefix='backbone.')
    builds = ((MMPRETRAIN_MODELS, 'VisionTransformer'),
              (MMDET_MODELS, 'mmpretrain.VisionTransformer'),
              (MMSEG_MODELS, 'mmpretrain.VisionTransformer'))
    for registry, type_name in builds:
        vit = registry.build(dict(type=type_name, init_cfg=init_cfg, **VIT))
        vit.init_weights()
        state = vit.state_dict()
        assert state.keys() == exported.keys(), registry.scope
        for key, value in exported.items():
            assert torch.equal(state[key], value), (registry.scope, key)

    # load_from-style into a classifier: the keys already carry "backbone."
    classifier = ImageClassifier(
        backbone=dict(type='VisionTransformer', **VIT))
    load_checkpoint(classifier, teacher_export, strict=True)
    assert torch.equal(classifier.backbone.cls_token, exported['cls_token'])


def test_export_errors(export_tool, teacher_export, mst_checkpoint, tmp_path):
    not_mst = str(tmp_path / 'classifier.pth')
    torch.save(
        dict(
            meta=dict(epoch=3),
            state_dict={
                'backbone.cls_token': torch.zeros(1, 1, 4),
                'head.fc.weight': torch.zeros(2, 4)
            }), not_mst)
    with pytest.raises(ValueError) as err:
        export_tool.main([not_mst, str(tmp_path / 'out.pth')])
    message = str(err.value)
    assert not_mst in message and 'not an MST' in message
    assert '"teacher.module.backbone.*"' in message
    assert 'backbone.cls_token, head.fc.weight' in message  # keys found

    no_state_dict = str(tmp_path / 'bare.pth')
    torch.save({'cls_token': torch.zeros(1, 1, 4)}, no_state_dict)
    with pytest.raises(ValueError, match='no "state_dict" entry.*cls_token'):
        export_tool.main([no_state_dict, str(tmp_path / 'out.pth')])

    missing = str(tmp_path / 'missing.pth')
    with pytest.raises(FileNotFoundError) as err:
        export_tool.main([missing, str(tmp_path / 'out.pth')])
    assert f'{missing}: no such checkpoint file' in str(err.value)
    assert not osp.exists(tmp_path / 'out.pth')

    # An existing output is kept unless --force, which then replaces it.
    with pytest.raises(FileExistsError) as err:
        export_tool.main([mst_checkpoint, teacher_export])
    assert str(err.value) == \
        f'{teacher_export} already exists; pass --force to overwrite it'
    assert read_plain(teacher_export)['meta']['network'] == 'teacher'
    dst = str(tmp_path / 'twice.pth')
    export_tool.main([mst_checkpoint, dst])
    export_tool.main([mst_checkpoint, dst, '--student', '--force'])
    assert read_plain(dst)['meta']['network'] == 'student'


def test_export_command_line_reports_errors(tmp_path, repo_root,
                                            subprocess_env):
    missing = str(tmp_path / 'missing.pth')
    proc = subprocess.run([
        sys.executable,
        osp.join(repo_root, 'tools', 'model_converters', 'mst_to_backbone.py'),
        missing,
        str(tmp_path / 'out.pth')
    ],
                          capture_output=True,
                          text=True,
                          env=subprocess_env)
    assert proc.returncode != 0
    assert f'FileNotFoundError: {missing}: no such checkpoint file' in \
        proc.stderr


# ------------------------------------------------------ DINO import ----
def timm_vit(seed):
    """A DINO ViT state dict (timm names) for the tiny ViT, random values."""
    g = torch.Generator().manual_seed(seed)

    def rand(*shape, scale=0.2, mean=0.):
        return mean + scale * torch.randn(*shape, generator=g)

    tensors = {
        'cls_token': rand(1, 1, DIMS),
        'pos_embed': rand(1, 1 + (IMG // PATCH)**2, DIMS),
        'patch_embed.proj.weight': rand(DIMS, 3, PATCH, PATCH, scale=0.05),
        'patch_embed.proj.bias': rand(DIMS),
        'norm.weight': rand(DIMS, mean=1.),
        'norm.bias': rand(DIMS),
    }
    for i in range(LAYERS):
        tensors.update({
            f'blocks.{i}.norm1.weight': rand(DIMS, mean=1.),
            f'blocks.{i}.norm1.bias': rand(DIMS),
            f'blocks.{i}.attn.qkv.weight': rand(3 * DIMS, DIMS),
            f'blocks.{i}.attn.qkv.bias': rand(3 * DIMS),
            f'blocks.{i}.attn.proj.weight': rand(DIMS, DIMS),
            f'blocks.{i}.attn.proj.bias': rand(DIMS),
            f'blocks.{i}.norm2.weight': rand(DIMS, mean=1.),
            f'blocks.{i}.norm2.bias': rand(DIMS),
            f'blocks.{i}.mlp.fc1.weight': rand(FFN, DIMS),
            f'blocks.{i}.mlp.fc1.bias': rand(FFN),
            f'blocks.{i}.mlp.fc2.weight': rand(DIMS, FFN),
            f'blocks.{i}.mlp.fc2.bias': rand(DIMS),
        })
    return tensors


def dino_vit_forward(t, img):
    """DINO's ViT forward from the raw tensors: the final-norm cls token."""
    layer_norm = lambda x, name: F.layer_norm(  # noqa: E731
        x, (DIMS, ),
        t[f'{name}.weight'],
        t[f'{name}.bias'],
        eps=1e-6)
    x = F.conv2d(
        img,
        t['patch_embed.proj.weight'],
        t['patch_embed.proj.bias'],
        stride=PATCH).flatten(2).transpose(1, 2)
    b, n = x.shape[0], x.shape[1] + 1
    x = torch.cat([t['cls_token'].expand(b, -1, -1), x], 1) + t['pos_embed']
    for i in range(LAYERS):
        p = f'blocks.{i}'
        qkv = F.linear(
            layer_norm(x, f'{p}.norm1'), t[f'{p}.attn.qkv.weight'],
            t[f'{p}.attn.qkv.bias']).reshape(b, n, 3, HEADS, DIMS // HEADS)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        attn = (q @ k.transpose(-2, -1) * (DIMS // HEADS)**-0.5).softmax(-1)
        out = (attn @ v).transpose(1, 2).reshape(b, n, DIMS)
        x = x + F.linear(out, t[f'{p}.attn.proj.weight'],
                         t[f'{p}.attn.proj.bias'])
        h = F.gelu(
            F.linear(
                layer_norm(x, f'{p}.norm2'), t[f'{p}.mlp.fc1.weight'],
                t[f'{p}.mlp.fc1.bias']))
        x = x + F.linear(h, t[f'{p}.mlp.fc2.weight'], t[f'{p}.mlp.fc2.bias'])
    return layer_norm(x, 'norm')[:, 0]


def dino_head(seed, hidden=64, bottleneck=16, out=128):
    """DINOHead(use_bn=False, nlayers=3) tensors with torch's old
    ``weight_norm`` names, as DINO saves them."""
    g = torch.Generator().manual_seed(seed)
    shapes = {
        'mlp.0.weight': (hidden, DIMS),
        'mlp.0.bias': (hidden, ),
        'mlp.2.weight': (hidden, hidden),
        'mlp.2.bias': (hidden, ),
        'mlp.4.weight': (bottleneck, hidden),
        'mlp.4.bias': (bottleneck, ),
        'last_layer.weight_v': (out, bottleneck)
    }
    head = {k: 0.2 * torch.randn(*s, generator=g) for k, s in shapes.items()}
    head['last_layer.weight_g'] = torch.rand(out, 1, generator=g) + 0.5
    return head


def dino_head_forward(h, x):
    for i in (0, 2):
        x = F.gelu(F.linear(x, h[f'mlp.{i}.weight'], h[f'mlp.{i}.bias']))
    x = F.normalize(F.linear(x, h['mlp.4.weight'], h['mlp.4.bias']), dim=-1)
    v = h['last_layer.weight_v']
    return F.linear(x,
                    h['last_layer.weight_g'] * v / v.norm(dim=1, keepdim=True))


@pytest.fixture(scope='module')
def dino_files(tmp_path_factory):
    """Both published layouts; teacher and student differ."""
    root = tmp_path_factory.mktemp('dino')
    teacher, student = timm_vit(1), timm_vit(2)
    teacher_head, student_head = dino_head(3), dino_head(4)
    torch.save(teacher, root / 'dino_vit_pretrain.pth')
    full = dict(
        teacher={
            **{
                f'backbone.{k}': v
                for k, v in teacher.items()
            },
            **{
                f'head.{k}': v
                for k, v in teacher_head.items()
            }
        },
        student={
            **{
                f'module.backbone.{k}': v
                for k, v in student.items()
            },
            **{
                f'module.head.{k}': v
                for k, v in student_head.items()
            }
        },
        optimizer=dict(state={}, param_groups=[dict(lr=0.1, params=[0])]),
        epoch=100,
        args=argparse.Namespace(
            arch='vit_tiny',
            patch_size=PATCH,
            out_dim=128,
            norm_last_layer=False,
            use_bn_in_head=False,
            data_path='/data'),
        dino_loss=dict(center=torch.zeros(1, 128)))
    torch.save(full, root / 'dino_vit_full_checkpoint.pth')
    return dict(
        root=root,
        backbone_only=str(root / 'dino_vit_pretrain.pth'),
        full=str(root / 'dino_vit_full_checkpoint.pth'),
        teacher=teacher,
        student=student,
        teacher_head=teacher_head,
        student_head=student_head)


@pytest.mark.parametrize('layout, options, network', [
    ('backbone_only', [], 'teacher'),
    ('full', [], 'teacher'),
    ('full', ['--which', 'student'], 'student'),
])
def test_dino_import_matches_dinos_vit_forward(import_tool, dino_files,
                                               tmp_path, layout, options,
                                               network):
    dst = str(tmp_path / 'converted.pth')
    meta = import_tool.main([dino_files[layout], dst, *options])
    checkpoint = read_plain(dst)
    assert meta == checkpoint['meta']
    assert meta['layout'] == layout.replace('_', '-')
    assert (meta['num_layers'], meta['embed_dims']) == (LAYERS, DIMS)
    if layout == 'full':
        assert meta['network'] == network and meta['epoch'] == 100
        assert meta['dino_args'] == dict(
            arch='vit_tiny',
            patch_size=PATCH,
            out_dim=128,
            norm_last_layer=False,
            use_bn_in_head=False)
        assert len(meta['dropped_keys']) == 8  # the head, by default

    vit = load_strictly(build_vit(), strip(checkpoint['state_dict']))
    x = torch.randn(2, 3, IMG, IMG)
    with torch.no_grad():
        torch.testing.assert_close(
            vit(x)[0], dino_vit_forward(dino_files[network], x))
        other = 'student' if network == 'teacher' else 'teacher'
        assert not torch.allclose(
            vit(x)[0], dino_vit_forward(dino_files[other], x))


def test_dino_import_initialises_an_mst_model(import_tool, dino_files,
                                              tmp_path):
    """As ``init_cfg`` Pretrained of MSTViT (the mask token is the only key
    not in the file) and, with ``--with-head``, the MSTHead."""
    from mmpretrain.registry import MODELS

    import mst_mm  # noqa: F401
    dst = str(tmp_path / 'with_head.pth')
    meta = import_tool.main(
        [dino_files['full'], dst, '--which', 'student', '--with-head'])
    assert meta['dropped_keys'] == []
    assert meta['head_settings'] == dict(
        in_channels=DIMS,
        out_channels=128,
        bottleneck_channels=16,
        num_layers=3,
        use_bn=False,
        hidden_channels=64)
    state_dict = read_plain(dst)['state_dict']

    backbone = MODELS.build(
        dict(
            type='MSTViT',
            **VIT,
            init_cfg=dict(
                type='Pretrained', checkpoint=dst, prefix='backbone.')))
    backbone.init_weights()
    backbone.eval()
    assert set(backbone.state_dict()) - set(
        strip({
            k: v
            for k, v in state_dict.items() if k.startswith('backbone.')
        })) == {'mask_token'}
    head = MODELS.build(dict(type='MSTHead', **meta['head_settings']))
    head.eval()
    load_strictly(
        head,
        strip({
            k: v
            for k, v in state_dict.items() if k.startswith('head.')
        }, 'head.'))
    x = torch.randn(2, 3, IMG, IMG)
    with torch.no_grad():
        cls_token = backbone(x)[0]
        torch.testing.assert_close(cls_token,
                                   dino_vit_forward(dino_files['student'], x))
        torch.testing.assert_close(
            head(cls_token),
            dino_head_forward(dino_files['student_head'], cls_token))


def test_dino_import_errors(import_tool, dino_files, tmp_path):
    root = dino_files['root']
    out = str(tmp_path / 'out.pth')
    resnet = str(root / 'dino_resnet50_pretrain.pth')
    torch.save(
        {
            'conv1.weight': torch.zeros(8, 3, 7, 7),
            'layer1.0.conv1.weight': torch.zeros(8, 8, 1, 1)
        }, resnet)
    with pytest.raises(ValueError) as err:
        import_tool.main([resnet, out])
    assert f'{resnet}: unknown backbone keys for a DINO ViT: conv1.weight, '\
        'layer1.0.conv1.weight; expected timm ViT keys' in str(err.value)

    # A runner checkpoint is not a DINO checkpoint either.
    runner = str(root / 'runner.pth')
    torch.save(dict(meta={}, state_dict={'backbone.cls_token': 0}), runner)
    with pytest.raises(
            ValueError, match='unknown backbone keys.*meta, '
            'state_dict'):
        import_tool.main([runner, out])

    only_teacher = str(root / 'only_teacher.pth')
    torch.save(
        dict(teacher={'backbone.cls_token': torch.zeros(1)}, epoch=1),
        only_teacher)
    with pytest.raises(
            ValueError,
            match='--which student, but this full '
            'DINO checkpoint has only: teacher, epoch'):
        import_tool.main([only_teacher, out, '--which', 'student'])

    truncated = {
        k: v
        for k, v in dino_files['teacher'].items()
        if k != 'blocks.1.mlp.fc2.weight'
    }
    torch.save(truncated, root / 'truncated.pth')
    with pytest.raises(
            ValueError,
            match='not a complete DINO ViT; missing '
            r'blocks\.1\.mlp\.fc2\.weight'):
        import_tool.main([str(root / 'truncated.pth'), out])

    with pytest.raises(
            ValueError,
            match='--with-head, but the backbone-only '
            'checkpoint has no "head.*" keys'):
        import_tool.main([dino_files['backbone_only'], out, '--with-head'])

    missing = str(root / 'missing.pth')
    with pytest.raises(
            FileNotFoundError,
            match=re.escape(f'{missing}: no such checkpoint file')):
        import_tool.main([missing, out])

    assert not osp.exists(out)
    import_tool.main([dino_files['backbone_only'], out])
    with pytest.raises(
            FileExistsError,
            match='already exists; pass --force to overwrite'):
        import_tool.main([dino_files['backbone_only'], out])
    import_tool.main([dino_files['full'], out, '--force'])
    assert read_plain(out)['meta']['layout'] == 'full'
