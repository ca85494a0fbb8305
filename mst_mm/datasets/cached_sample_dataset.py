import copy
from typing import Union

from mmpretrain.registry import DATASETS
from torch.utils.data import Dataset


@DATASETS.register_module()
class CachedSampleDataset(Dataset):
    """A dataset of ``len(dataset)`` samples that cycles through the
    pipeline's results for the first ``num_cached`` samples of ``dataset``.

    It stands in for "synthetic tensors" when measuring how much the input
    pipeline slows training: the samples have the wrapped pipeline's exact
    form (views, sizes, dtypes, data samples), so collate, the data
    preprocessor and the model do the same work, while loading costs a copy
    once a sample is cached. An epoch has as many iterations as with
    ``dataset`` itself. Sample ``i`` is ``dataset[i % num_cached]``,
    computed once when the wrapper is built (in the main process, so the
    loader's workers start with the whole cache: filled lazily, a shuffled
    sampler would make each worker decode for several batches) and
    deep-copied on every request, so that nothing downstream modifies the
    cached copy.

    Example::

        train_dataloader = dict(dataset=dict(
            type='CachedSampleDataset', num_cached=64,
            dataset=dict(type='CustomDataset', data_root='data/images',
                         with_label=False, pipeline=train_pipeline)))

    (``tools/analysis_tools/benchmark_train_loader.py`` compares training
    with and without it).

    Args:
        dataset (Dataset | dict): The dataset, or its config (built from
            mmpretrain's ``DATASETS``).
        num_cached (int): How many distinct samples to cache, at least 1 and
            at most ``len(dataset)``. Defaults to 1.
    """

    def __init__(self,
                 dataset: Union[Dataset, dict],
                 num_cached: int = 1) -> None:
        if isinstance(dataset, dict):
            dataset = DATASETS.build(dataset)
        if hasattr(dataset, 'full_init'):  # the length needs the data list
            dataset.full_init()
        if (isinstance(num_cached, bool) or not isinstance(num_cached, int)
                or not 1 <= num_cached <= len(dataset)):
            raise ValueError(
                f'CachedSampleDataset: num_cached={num_cached!r}, expected an '
                f'int from 1 to the wrapped dataset\'s {len(dataset)} samples '
                f'({type(dataset).__name__})')
        self.dataset = dataset
        self.num_cached = num_cached
        self._cache = [dataset[i] for i in range(num_cached)]

    @property
    def metainfo(self) -> dict:
        """The wrapped dataset's meta information."""
        return copy.deepcopy(getattr(self.dataset, 'metainfo', {}))

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, idx: int) -> dict:
        if not -len(self) <= idx < len(self):
            raise IndexError(f'CachedSampleDataset: index {idx} out of range '
                             f'for {len(self)} samples')
        return copy.deepcopy(self._cache[idx % len(self) % self.num_cached])

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(num_cached={self.num_cached}, '
                f'{len(self)} samples of {type(self.dataset).__name__})')
