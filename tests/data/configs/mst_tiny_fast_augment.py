# The tiny MST run on the fast input path: the workers only crop and flip
# (mst_tiny.py's pipeline), MultiCropDataPreprocessor applies the paper's
# photometric transforms (configs/pretrain/_base_/datasets/mst_multicrop.py)
# on the device: the first global views' to both global views, the local
# views' to the local ones.
_base_ = './mst_tiny.py'

model = dict(
    data_preprocessor=dict(
        type='MultiCropDataPreprocessor',
        num_views=[2, 2],
        transforms=[
            _base_.fast_data_preprocessor['transforms'][0],
            _base_.fast_data_preprocessor['transforms'][2]
        ]))
