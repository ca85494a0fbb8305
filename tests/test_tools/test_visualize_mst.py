"""MST's pictures: tools/visualize_mst.py on the checkpoint of a tiny
one-epoch run, the drawing functions against the model they draw, and
MSTVisualizationHook writing through mmengine's LocalVisBackend."""
import json
import os
import os.path as osp
from glob import glob

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from PIL import Image

from mst_mm.engine.hooks import MSTVisualizationHook
from mst_mm.models.maskers import RandomMasker
from mst_mm.visualization import (MASK_FILL, MASK_HATCH, attention_and_masks,
                                  attention_maps_per_head, denormalise,
                                  restorations, training_curves)

NUM_IMAGES = 2
# Picture sizes (H, W) for 2 square images, fixed by the layout constants
# of mst_mm/visualization/layout.py (100 dpi, 192 px image panels,
# 128 px head panels): margins 10, column titles 40, a caption of 18 under
# each row, gaps of 16 between panels, a colour bar slot of 64.
MASKS_HW = (10 + 40 + 2 * (192 + 18), 10 + 208 + 256 + 208 + 192 + 10)
RESTORATION_HW = (10 + 40 + 2 * (192 + 18), 10 + 208 + 208 + 192 + 10)
# Heads: a 22 px row-name column, input + 2 heads + mean of 132 px each, a
# colour bar slot of 60; rows of 132 px, 10 px between images.


def heads_hw(rows_per_image):
    return (10 + 40 + NUM_IMAGES * rows_per_image * 132 + 10 + 10,
            10 + 22 + 4 * 132 + 60 + 10)


CURVES_HW = (650, 1200)


@pytest.fixture(scope='module')
def visualize(load_tool):
    return load_tool('visualize_mst')


@pytest.fixture(scope='module')
def config(data_config):
    """The tiny MST config the tool draws."""
    return data_config('mst_tiny.py')


def blob_image(rng, size):
    """Noise with one coloured blob: something for the attention to find."""
    yy, xx = np.mgrid[0:size, 0:size]
    cy, cx = rng.uniform(size / 4, 3 * size / 4, 2)
    blob = np.exp(-((yy - cy)**2 + (xx - cx)**2) / (size / 3)**2)[..., None]
    img = 60 + blob * rng.uniform(80, 255, 3) + rng.normal(
        0, 10, (size, size, 3))
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


@pytest.fixture(scope='module')
def train_images(tmp_path_factory):
    root = tmp_path_factory.mktemp('vis_train_images')
    rng = np.random.default_rng(0)
    for i in range(8):
        blob_image(rng, 40).save(root / f'{i}.png')
    return str(root)


@pytest.fixture(scope='module')
def labelled_images(tmp_path_factory):
    """The k-NN query split (test/<class>/) the tool takes its images from."""
    root = tmp_path_factory.mktemp('vis_labelled')
    rng = np.random.default_rng(1)
    for cls in ('a', 'b'):
        os.makedirs(root / 'test' / cls)
        for i in range(2):
            blob_image(rng, 36).save(root / 'test' / cls / f'{i}.png')
    return str(root)


@pytest.fixture(scope='module')
def run(train_images, tmp_path_factory, train_tool, data_config):
    """One epoch (2 iterations) of the tiny MST with the hook: its work
    directory, with epoch_1.pth, scalars.json and the hook's pictures."""
    work_dir = str(tmp_path_factory.mktemp('vis_run'))
    train_tool.main([
        data_config('mst_tiny_visualization.py'), '--work-dir', work_dir,
        '--cfg-options', f'train_dataloader.dataset.data_root={train_images}',
        'experiment_name=visualize_mst_run'
    ])
    return work_dir


def data_options(labelled_images):
    return [
        f'knn_evaluation.val_dataloader.dataset.data_root='
        f'{labelled_images}'
    ]


@pytest.fixture(scope='module')
def model_and_images(run, labelled_images, visualize, config):
    """The trained model and the tool's images, built by the tool."""
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(
        {'knn_evaluation.val_dataloader.dataset.data_root': labelled_images})
    init_default_scope('mmpretrain')
    model = visualize.build_model(cfg, osp.join(run, 'epoch_1.pth'), 'cpu')
    images = visualize.load_images(cfg, model, NUM_IMAGES)
    return model, images, cfg


def png_hw(path):
    assert osp.getsize(path) > 0, path
    with Image.open(path) as img:
        assert img.mode == 'RGB', (path, img.mode)
        pixels = np.asarray(img)
    assert pixels.std() > 10, f'{path} is blank'
    return pixels.shape[:2]


def cells(picture, box, grid):
    """The interior pixels (one pixel in from the cell edges) of every patch
    cell of a panel, in the backbone's token order."""
    top, left, h, w = box
    gh, gw = grid
    out = []
    for i in range(gh):
        for j in range(gw):
            y0, y1 = top + -(-i * h // gh), top + -(-(i + 1) * h // gh)
            x0, x1 = left + -(-j * w // gw), left + -(-(j + 1) * w // gw)
            out.append(picture[y0 + 1:y1 - 1, x0 + 1:x1 - 1])
    return out


def is_mask_colour(cell):
    pixels = cell.reshape(-1, 3)
    return bool(((pixels == MASK_FILL).all(1)
                 | (pixels == MASK_HATCH).all(1)).all())


def assert_cells_show(picture, boxes, grid, masks):
    """A cell has the masked colours exactly when the mask says so."""
    for row, box in enumerate(boxes):
        shown = [is_mask_colour(c) for c in cells(picture, box, grid)]
        assert shown == masks[row].tolist(), row


def panel(picture, box):
    top, left, h, w = box
    return picture[top:top + h, left:left + w]


def test_tool_writes_every_picture(visualize, config, run, labelled_images,
                                   tmp_path, capsys):
    out_dir = str(tmp_path / 'pictures')
    written = visualize.main([
        config,
        osp.join(run, 'epoch_1.pth'), '--images',
        str(NUM_IMAGES), '--out-dir', out_dir, '--work-dir', run,
        '--cfg-options', *data_options(labelled_images)
    ])
    expected = dict(
        masks=('mst_masks.png', MASKS_HW),
        attention=('mst_attention_heads.png', heads_hw(2)),  # + random init
        restoration=('mst_restoration.png', RESTORATION_HW),
        curves=('mst_training_curves.png', CURVES_HW))
    assert set(written) == set(expected)
    printed = capsys.readouterr().out.splitlines()
    for key, (name, hw) in expected.items():
        path = osp.join(out_dir, name)
        assert written[key] == path and path in printed
        assert png_hw(path) == hw, name


def test_mask_picture_shows_exactly_the_maskers_masks(model_and_images):
    model, images, _ = model_and_images
    result = attention_and_masks(model, images,
                                 torch.Generator().manual_seed(7))
    _, _, attention = model.teacher.module.backbone.forward_tokens(
        images, return_attention=True)
    torch.testing.assert_close(result['attention'], attention)
    # The same draws as the masker itself: guided first, then random with
    # the guided masker's expected fraction (16 patches, num=2, p=0.5).
    generator = torch.Generator().manual_seed(7)
    guided = model.masker(attention, generator=generator)
    assert result['random_p'] == model.masker.expected_ratio(16) == 0.25
    random = RandomMasker(p=0.25)(attention, generator=generator)
    assert torch.equal(result['guided_mask'], guided)
    assert torch.equal(result['random_mask'], random)
    assert guided.any() and random.any() and not guided.all()
    # (d) masks only the lowest-attention half (the candidates).
    lowest = attention.argsort(dim=1)[:, :8]
    for row in range(NUM_IMAGES):
        assert set(guided[row].nonzero().flatten().tolist()) <= set(
            lowest[row].tolist())

    picture, panels, grid = result['picture'], result['panels'], (4, 4)
    assert result['grid'] == grid and picture.shape == (*MASKS_HW, 3)
    assert_cells_show(picture, panels['guided_mask'], grid, guided)
    assert_cells_show(picture, panels['random_mask'], grid, random)
    # (a) is the de-normalised input, its 32 px shown as 6 x 6 blocks.
    rgb = denormalise(model, images)
    for row, box in enumerate(panels['input']):
        assert np.array_equal(
            panel(picture, box), rgb[row].repeat(6, 0).repeat(6, 1))
        assert not any(is_mask_colour(c) for c in cells(picture, box, grid))


def test_denormalise_gives_back_the_loaded_image(model_and_images):
    model, images, cfg = model_and_images
    from mmpretrain.registry import DATASETS
    dataset = DATASETS.build(cfg.knn_evaluation.val_dataloader.dataset)
    bgr = dataset[0]['inputs'].permute(1, 2, 0).numpy()
    rgb = denormalise(model, images)[0]
    assert np.abs(rgb.astype(int) - bgr[..., ::-1].astype(int)).max() <= 1


def test_attention_per_head_averages_to_eq4(model_and_images):
    model, images, _ = model_and_images
    result = attention_maps_per_head(
        {
            'teacher': model,
            'student': model.backbone
        }, images)
    assert result['picture'].shape == (*heads_hw(2), 3)
    for name, backbone in (('teacher', model.teacher.module.backbone),
                           ('student', model.backbone)):
        per_head = result['attention'][name]
        assert per_head.shape == (NUM_IMAGES, 2, 16)
        torch.testing.assert_close(
            per_head.sum(-1), torch.ones(2, 2), atol=0.2,
            rtol=0)  # the cls keeps a share
        _, _, mean = backbone.forward_tokens(images, return_attention=True)
        torch.testing.assert_close(per_head.mean(1), mean)


def test_restoration_picture(model_and_images):
    model, images, _ = model_and_images
    model.train()
    result = restorations(model, images, torch.Generator().manual_seed(3))
    # Every module runs in eval mode and gets its training flag back.
    assert all(m.training for m in model.modules())
    model.eval()
    _, _, attention = model.teacher.module.backbone.forward_tokens(
        images, return_attention=True)
    mask = model.masker(attention, generator=torch.Generator().manual_seed(3))
    assert torch.equal(result['mask'], mask) and mask.any()
    with torch.no_grad():
        _, patches, _ = model.backbone.forward_tokens(images, mask=mask)
        restored = model.neck(patches)
    torch.testing.assert_close(result['restored'], restored)
    torch.testing.assert_close(result['l1'],
                               (restored - images).abs().mean(dim=(1, 2, 3)))
    picture = result['picture']
    assert picture.shape == (*RESTORATION_HW, 3)
    assert_cells_show(picture, result['panels']['masked_input'], (4, 4), mask)
    shown = denormalise(model, restored)
    for row, box in enumerate(result['panels']['restoration']):
        assert np.array_equal(
            panel(picture, box), shown[row].repeat(6, 0).repeat(6, 1))


def test_training_curves(run, tmp_path):
    path, = glob(osp.join(run, '*', 'vis_data', 'scalars.json'))
    result = training_curves(path)
    assert result['picture'].shape == (*CURVES_HW, 3)
    series = result['series']
    for key in ('loss_distill', 'loss_restore', 'mask_ratio',
                'teacher_entropy', 'teacher_batch_entropy', 'kl'):
        assert series[key][0] == [1, 2], key  # 2 iterations, logged each
    # The KL panel is the logged distill_kl. (Subtracting the logged
    # teacher_entropy from the logged loss_distill would be wrong: mmengine
    # logs losses as running means and other values as they are.)
    with open(path) as f:
        logged = [json.loads(line) for line in f]
    assert series['kl'][1] == pytest.approx(
        [r['distill_kl'] for r in logged if 'distill_kl' in r])
    assert all(v >= 0 for v in series['kl'][1])
    missing = str(tmp_path / 'no_run' / 'scalars.json')
    with pytest.raises(FileNotFoundError, match='no_run'):
        training_curves(missing)
    empty = tmp_path / 'scalars.json'
    empty.write_text('{"lr": 0.1, "step": 1}\n')
    with pytest.raises(ValueError, match='no training row'):
        training_curves(str(empty))


def test_tool_with_a_random_model(visualize, config, labelled_images,
                                  tmp_path):
    written = visualize.main([
        config, 'random', '--images',
        str(NUM_IMAGES), '--out-dir',
        str(tmp_path), '--which', 'attention', '--cfg-options',
        *data_options(labelled_images)
    ])
    # One row per image: the random model is not drawn twice.
    assert png_hw(written['attention']) == heads_hw(1)


def test_tool_errors(visualize, config, run, labelled_images, tmp_path):
    checkpoint = osp.join(run, 'epoch_1.pth')
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        visualize.main([config, str(tmp_path / 'nope.pth')])
    with pytest.raises(FileNotFoundError, match='missing_config.py'):
        visualize.main([str(tmp_path / 'missing_config.py'), checkpoint])
    with pytest.raises(ValueError, match='masker is None'):
        visualize.main([
            config, 'random', '--which', 'masks', '--out-dir',
            str(tmp_path), '--cfg-options', 'model.masker=None'
        ])
    with pytest.raises(FileNotFoundError, match='empty_run'):
        visualize.main([
            config, checkpoint, '--which', 'curves', '--work-dir',
            str(tmp_path / 'empty_run')
        ])
    with pytest.raises(FileNotFoundError, match='no images.*nowhere'):
        visualize.main([
            config, 'random', '--which', 'masks', '--out-dir',
            str(tmp_path), '--cfg-options',
            'knn_evaluation.val_dataloader.dataset.data_root=nowhere',
            'train_dataloader.dataset.data_root=nowhere'
        ])


def test_hook_writes_pictures_through_the_visualizer(run):
    files = {
        osp.basename(p): p
        for p in glob(osp.join(run, '*', 'vis_data', 'vis_image', '*.png'))
    }
    # num_images=2, after epoch 1 (the only one).
    assert png_hw(files['mst_masks_1.png']) == MASKS_HW
    assert png_hw(files['mst_attention_heads_1.png']) == heads_hw(1)
    assert png_hw(files['mst_restoration_1.png']) == RESTORATION_HW
    assert len(files) == 3


def test_hook_arguments():
    with pytest.raises(ValueError, match='interval=0'):
        MSTVisualizationHook(interval=0)
    with pytest.raises(ValueError, match='num_images'):
        MSTVisualizationHook(num_images=0)
    with pytest.raises(ValueError, match="unknown pictures \\['curves'\\]"):
        MSTVisualizationHook(pictures=('masks', 'curves'))


def test_hook_leaves_the_random_generators_alone(model_and_images,
                                                 train_images):
    """Drawing (the kept images' augmentation, the masks) must not change
    the training that follows: every generator is as it was."""
    import random
    from types import SimpleNamespace
    from unittest import mock

    from mmpretrain.registry import DATASETS
    model, _, cfg = model_and_images
    cfg.train_dataloader.dataset.data_root = train_images
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    runner = SimpleNamespace(
        model=model,
        train_dataloader=SimpleNamespace(dataset=dataset),
        visualizer=mock.Mock(),
        logger=mock.Mock(),
        epoch=1,
        max_epochs=4)
    hook = MSTVisualizationHook(interval=2, num_images=3)
    torch.manual_seed(5)
    np.random.seed(5)
    random.seed(5)
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.manual_seed(5)
    np.random.seed(5)
    random.seed(5)
    hook.before_train(runner)
    hook.after_train_epoch(runner)  # epoch index 1: the 2nd, drawn
    runner.epoch = 2
    hook.after_train_epoch(runner)  # the 3rd: not drawn
    after = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(after[0], expected[0])
    assert np.array_equal(after[1], expected[1]) and after[2] == expected[2]
    calls = runner.visualizer.add_image.call_args_list
    assert [(c.args[0], c.kwargs['step'])
            for c in calls] == [('mst_masks', 2), ('mst_attention_heads', 2),
                                ('mst_restoration', 2)]
    assert calls[0].args[1].shape == (10 + 40 + 3 * 210, MASKS_HW[1], 3)
