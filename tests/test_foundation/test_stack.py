"""The installed OpenMMLab stack imports and mmcv's compiled ops compute the
right numbers (a pure-Python mmcv, or ops built against another torch, fail
here first)."""
import importlib

import pytest
import torch


@pytest.mark.parametrize(
    'module', ['mmengine', 'mmcv', 'mmcv.ops', 'mmpretrain', 'mmdet', 'mmseg'])
def test_toolbox_imports(module):
    importlib.import_module(module)


def test_nms_keeps_hand_computed_boxes():
    from mmcv.ops import nms

    boxes = torch.tensor([
        [0., 0., 10., 10.],  # 0: kept, highest score of its cluster
        [1., 1., 11., 11.],  # 1: IoU(0) = 81 / 119 = 0.68 -> suppressed
        [20., 20., 30., 30.],  # 2: IoU(4) = 64 / 100 = 0.64 -> suppressed
        [0., 5., 10., 15.],  # 3: IoU(0) = 50 / 150 = 0.33 -> kept
        [21., 21., 29., 29.],  # 4: kept, beats box 2
    ])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.75])

    dets, keep = nms(boxes, scores, iou_threshold=0.5)

    # Kept boxes come sorted by score.
    assert keep.tolist() == [0, 4, 3]
    assert dets.shape == (3, 5)
    torch.testing.assert_close(dets[:, :4], boxes[[0, 4, 3]])
    torch.testing.assert_close(dets[:, 4], torch.tensor([0.9, 0.75, 0.6]))


@pytest.mark.parametrize(
    'aligned, roi, expected',
    [
        # aligned=True shifts the RoI by -0.5 px: x in [0, 2], y in [0.5,
        # 2.5], 1x1 bins, one sample per bin at the bin centre, i.e.
        # x in {0.5, 1.5}, y in {1, 2}; on f(y, x) = 4y + x bilinear
        # interpolation is exact.
        (True, [0., 0.5, 1., 2.5, 3.], [[4.5, 5.5], [8.5, 9.5]]),
        # aligned=False: x in [0, 2], y in [1, 3] -> samples x in {0.5, 1.5},
        # y in {1.5, 2.5}.
        (False, [0., 0., 1., 2., 3.], [[6.5, 7.5], [10.5, 11.5]]),
    ])
def test_roi_align_matches_hand_computed_values(aligned, roi, expected):
    from mmcv.ops import RoIAlign

    feature = torch.arange(16, dtype=torch.float32).view(1, 1, 4, 4)  # 4y+x
    rois = torch.tensor([roi])
    roi_align = RoIAlign(
        output_size=(2, 2),
        spatial_scale=1.0,
        sampling_ratio=1,
        pool_mode='avg',
        aligned=aligned)

    out = roi_align(feature, rois)

    assert out.shape == (1, 1, 2, 2)
    torch.testing.assert_close(out[0, 0], torch.tensor(expected))
