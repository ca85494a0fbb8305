"""The linear-probe recipe through tools/train.py and tools/test.py."""
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.runner.checkpoint import _load_checkpoint
from PIL import Image

from mst_mm.models import MSTViT

ARCH = dict(embed_dims=32, num_layers=4, num_heads=2, feedforward_channels=64)


@pytest.fixture(scope='module')
def config(data_config):
    return data_config('linear_probe_tiny.py')


@pytest.fixture(scope='module')
def data_and_backbone(tmp_path_factory):
    root = tmp_path_factory.mktemp('linear_probe')
    rng = np.random.default_rng(0)
    for split, n in (('train', 8), ('test', 4)):
        for cls, colour in (('blue', (30, 60, 200)), ('red', (200, 40, 30))):
            os.makedirs(root / 'data' / split / cls)
            for i in range(n):
                img = np.clip(
                    np.array(colour) + rng.normal(0, 25, (36, 36, 3)), 0, 255)
                Image.fromarray(img.astype(np.uint8)).save(
                    root / 'data' / split / cls / f'{i}.png')
    torch.manual_seed(0)
    backbone = MSTViT(
        arch=ARCH, img_size=32, patch_size=8, with_mask_token=False)
    backbone.init_weights()
    ckpt = str(root / 'backbone.pth')
    torch.save(
        dict(state_dict={
            f'backbone.{k}': v
            for k, v in backbone.state_dict().items()
        }), ckpt)
    return str(root / 'data'), ckpt


def test_linear_probe_trains_only_the_classifier(data_and_backbone, tmp_path,
                                                 capsys, train_tool, test_tool,
                                                 config):
    data_root, ckpt = data_and_backbone
    work_dir = str(tmp_path)
    options = [
        '--cfg-options', f'train_dataloader.dataset.data_root={data_root}',
        f'val_dataloader.dataset.data_root={data_root}',
        f'test_dataloader.dataset.data_root={data_root}',
        f'model.backbone.init_cfg.checkpoint={ckpt}',
        'experiment_name=linear_probe_tiny'
    ]
    train_tool.main([config, '--work-dir', work_dir, *options])
    trained = _load_checkpoint(osp.join(work_dir, 'epoch_2.pth'))['state_dict']
    init = _load_checkpoint(ckpt)['state_dict']
    # The frozen backbone is exactly the loaded one; only the head learned.
    for key, value in init.items():
        torch.testing.assert_close(trained[key], value, msg=key)
    assert trained['head.fc.weight'].shape == (2, 4 * 32)
    assert trained['head.fc.weight'].abs().sum() > 0

    metrics = test_tool.main([
        config,
        osp.join(work_dir, 'epoch_2.pth'), '--work-dir', work_dir,
        *options[:-1], 'experiment_name=linear_probe_tiny_test'
    ])
    assert 'accuracy/top1' in metrics
    assert 0. <= metrics['accuracy/top1'] <= 100.
    assert 'accuracy/top1' in capsys.readouterr().out + open(
        next(
            osp.join(dp, f) for dp, _, fs in os.walk(work_dir)
            for f in fs if f.endswith('.log'))).read()


def test_dino_protocol_concatenates_normalised_last_blocks():
    torch.manual_seed(0)
    vit = MSTViT(
        arch=ARCH,
        img_size=32,
        patch_size=8,
        with_mask_token=False,
        out_indices=(2, 3),
        norm_all_outputs=True)
    vit.eval()
    x = torch.randn(2, 3, 32, 32)
    tokens, _ = vit.embed_patches(x)
    expected = []
    for i, layer in enumerate(vit.layers):
        tokens = layer(tokens)
        if i in (2, 3):
            expected.append(vit.ln1(tokens)[:, 0])
    out = vit(x)
    assert len(out) == 2
    for got, ref in zip(out, expected):
        torch.testing.assert_close(got, ref)
