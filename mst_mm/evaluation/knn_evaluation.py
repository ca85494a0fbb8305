"""The weighted k-NN protocol of a config's ``knn_evaluation`` dict, shared
by tools/knn_eval.py and :class:`OnlineKNNHook`: loaders, the backbone,
feature extraction gathered across processes, and the scores."""
import copy
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.dist import (broadcast_object_list, collect_results,
                           get_dist_info, is_main_process)
from mmengine.model import is_model_wrapper
from mmengine.utils import ProgressBar

from .weighted_knn import knn_accuracy, weighted_knn_classify

DEFAULT_KS = (10, 20, 100, 200)
DEFAULT_TEMPERATURE = 0.07
NETWORKS = ('teacher', 'student')


def knn_backbone(model: nn.Module, network: str = 'teacher') -> nn.Module:
    """The backbone whose features k-NN evaluates.

    Args:
        model (nn.Module): An MST/DINO model (possibly wrapped), or any
            model with a ``backbone``.
        network (str): ``'teacher'`` (the EMA teacher's backbone when the
            model has one, else ``model.backbone``) or ``'student'``.
    """
    if network not in NETWORKS:
        raise ValueError(f'k-NN: network={network!r}, expected one of '
                         f'{NETWORKS}')
    if is_model_wrapper(model):
        model = model.module
    if network == 'teacher' and hasattr(model, 'teacher'):
        return model.teacher.module.backbone
    return model.backbone


def knn_settings(knn_cfg: dict,
                 ks: Optional[Sequence[int]] = None,
                 temperature: Optional[float] = None,
                 source: str = 'the config') -> Tuple[Tuple[int, ...], float]:
    """``(ks, temperature)``: the given values, else the ``knn_evaluation``
    dict's, else DINO's (10, 20, 100, 200) and 0.07. Both are checked: a k
    below 1 or a temperature <= 0 is an error naming where it came from,
    never replaced by a default.

    Args:
        knn_cfg (dict): The config's ``knn_evaluation``.
        ks (Sequence[int], optional): Override (e.g. ``--ks``).
        temperature (float, optional): Override (e.g. ``--temperature``).
        source (str): The config's name, for errors.
    """
    if ks:
        where = '--ks'
    else:
        ks, where = knn_cfg.get('ks',
                                DEFAULT_KS), (f'knn_evaluation.ks in {source}')
    ks = tuple(ks)
    if not ks or any(not isinstance(k, int) or k < 1 for k in ks):
        raise ValueError(f'{where}={list(ks)}: expected integers >= 1')
    if temperature is not None:
        where = '--temperature'
    else:
        temperature = knn_cfg.get('temperature', DEFAULT_TEMPERATURE)
        where = f'knn_evaluation.temperature in {source}'
    if not temperature > 0:
        raise ValueError(f'{where}={temperature}: expected a temperature > 0 '
                         '(the votes are exp(cosine / T))')
    return ks, float(temperature)


def bank_ks(ks: Sequence[int], bank_size: int, strict: bool) -> dict:
    """How many neighbours each k really uses: ``min(k, bank_size)``.

    A k the memory bank cannot serve is an error when ``strict`` (asked for
    explicitly, e.g. on the command line); otherwise (from a config) it is
    clamped, and the caller reports it as such.
    """
    too_large = [k for k in ks if k > bank_size]
    if too_large and strict:
        raise ValueError(
            f'--ks {too_large}: more neighbours than the {bank_size} images '
            'of the memory bank (knn_evaluation.train_dataloader); expected '
            f'k <= {bank_size}')
    return {k: min(k, bank_size) for k in ks}


def build_knn_dataloaders(knn_cfg: dict, source: str = 'the config'):
    """The memory-bank and query loaders of a ``knn_evaluation`` dict.

    Args:
        knn_cfg (dict): With ``train_dataloader`` and ``val_dataloader``
            (mmengine dataloader configs; left unchanged).
        source (str): Where the dict came from, for errors.

    Returns:
        tuple: ``(train_loader, val_loader)``; a distributed run gets
        mmengine's per-process samplers.
    """
    from mmengine.runner import Runner
    names = ('train_dataloader', 'val_dataloader')
    for name in names:
        if name not in knn_cfg:
            raise KeyError(
                f'knn_evaluation of {source} has no {name!r} (the memory '
                'bank is train_dataloader, the queries val_dataloader); see '
                'configs/pretrain/_base_/datasets/imagenet_multicrop.py')
    loaders = []
    for name in names:
        loader_cfg = copy.deepcopy(knn_cfg[name])
        # SelfSupDataPreprocessor reads a list as views: stack the batch.
        loader_cfg.setdefault('collate_fn', dict(type='default_collate'))
        loaders.append(Runner.build_dataloader(loader_cfg))
    return tuple(loaders)


@torch.no_grad()
def extract_features(
    model: nn.Module,
    backbone: Optional[nn.Module],
    loader,
    device: torch.device,
    what: str = 'backbone',
    progress: bool = True
) -> Tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
    """Features and labels of every sample of ``loader``'s dataset.

    Each process runs its share of the data; the results are gathered on the
    main process in dataset order (mmengine's ``collect_results``).

    Args:
        model (nn.Module): Its ``data_preprocessor`` normalises the batch.
        backbone (nn.Module, optional): Its last output is the feature
            (a feature map is average-pooled); None means the normalised
            pixels themselves.
        loader (DataLoader): Samples with ``gt_label``.
        device (torch.device): Where the backbone runs.
        what (str): Name of the features, for the progress line.
        progress (bool): Show a progress bar on the main process.

    Returns:
        tuple: ``(features (N, D) float32, labels (N,))`` on the main
        process, ``(None, None)`` on the others.
    """
    if is_model_wrapper(model):
        model = model.module
    rank, world_size = get_dist_info()
    dataset = loader.dataset
    bar = None
    if progress and rank == 0:
        print(f'\nextracting {what} features of {len(dataset)} images')
        bar = ProgressBar(len(dataset))
    results = []
    for data in loader:
        data = model.data_preprocessor(data, False)
        inputs = data['inputs'].to(device)
        if backbone is None:
            feats = inputs.flatten(1)
        else:
            feats = backbone(inputs)[-1]
            if feats.dim() == 4:  # a feature map: global average pooling
                feats = feats.mean(dim=(2, 3))
        labels = [int(s.gt_label) for s in data['data_samples']]
        results.extend(zip(feats.float().cpu(), labels))
        if bar is not None:
            for _ in range(len(labels) * world_size):
                bar.update()
    results = collect_results(results, len(dataset), device='cpu')
    if results is None:
        return None, None
    feats = torch.stack([f for f, _ in results])
    labels = torch.tensor([label for _, label in results])
    return feats, labels


def evaluate_knn(model: nn.Module,
                 backbone: Optional[nn.Module],
                 train_loader,
                 val_loader,
                 ks: Sequence[int] = DEFAULT_KS,
                 temperature: float = DEFAULT_TEMPERATURE,
                 device: Optional[torch.device] = None,
                 what: str = 'backbone',
                 progress: bool = True) -> Dict[str, float]:
    """Weighted k-NN top-1 (and top-5) of ``backbone``'s features.

    The memory bank is ``train_loader``'s data, the queries ``val_loader``'s;
    the features are gathered on the main process, which scores the queries
    a chunk at a time (:func:`weighted_knn_classify`, memory ``chunk x N``);
    the metrics are then broadcast, so every process returns them.

    Returns:
        dict[str, float]: ``k{k}_top1`` (and ``k{k}_top5`` with >= 5
        classes) in percent, for each k.
    """
    if device is None:
        device = next(backbone.parameters()).device if backbone is not None \
            else torch.device('cpu')
    train_feats, train_labels = extract_features(model, backbone, train_loader,
                                                 device, what, progress)
    val_feats, val_labels = extract_features(model, backbone, val_loader,
                                             device, what, progress)
    metrics = [None]
    if is_main_process():
        classes = train_loader.dataset.metainfo.get('classes')
        num_classes = len(classes) if classes else int(
            max(train_labels.max(), val_labels.max())) + 1
        scores = weighted_knn_classify(
            train_feats.to(device),
            train_labels.to(device),
            val_feats,
            num_classes,
            ks=ks,
            temperature=temperature)
        metrics = [knn_accuracy(scores, val_labels)]
    broadcast_object_list(metrics)
    return metrics[0]
