#!/usr/bin/env python
"""Weighted k-NN evaluation of a pre-trained backbone (MST Appendix D).

The training split is the memory bank, the validation split the queries;
features are the backbone's cls token (L2-normalised inside the classifier),
votes are weighted by exp(cosine / T), T = 0.07, for k in {10, 20, 100, 200}.
Data, pipeline, k and T come from the config's ``knn_evaluation`` dict (see
configs/pretrain/_base_/mst_deit-s_imagenet.py). Runs in batches, across
processes (``--launcher pytorch`` / tools/dist_knn.sh), with a progress bar;
the similarity is computed a chunk of queries at a time, never N x N.

    python tools/knn_eval.py CONFIG CHECKPOINT            # teacher backbone
    python tools/knn_eval.py CONFIG CHECKPOINT --network student
    python tools/knn_eval.py CONFIG random                # untrained backbone
    python tools/knn_eval.py CONFIG none --features raw-pixels
"""
import argparse
import json
import os
import os.path as osp

import torch
from mmengine.config import Config, DictAction
from mmengine.dist import (broadcast_object_list, collect_results,
                           get_dist_info, init_dist, is_main_process)
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmengine.utils import ProgressBar

import mst_mm  # noqa: F401  (registers MST components, checkpoint loading)
from mst_mm.evaluation import knn_accuracy, weighted_knn_classify
from mst_mm.utils import init_weights_quietly
from mst_mm.utils.checkpoint_coverage import load_checkpoint_checked
from mst_mm.utils.launcher import (finish_distributed,
                                   init_cpu_process_group)

NO_CHECKPOINT = ('random', 'none')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Weighted k-NN evaluation')
    parser.add_argument('config', help='pre-training config file')
    parser.add_argument(
        'checkpoint',
        help='checkpoint file, or "random" for an untrained backbone '
        '("none" with --features raw-pixels)')
    parser.add_argument(
        '--network',
        choices=['teacher', 'student'],
        default='teacher',
        help='which backbone of an MST/DINO model (default: teacher)')
    parser.add_argument(
        '--features',
        choices=['backbone', 'raw-pixels'],
        default='backbone',
        help='raw-pixels: the normalised images themselves, a reference')
    parser.add_argument('--ks', type=int, nargs='+', help='override k')
    parser.add_argument('--temperature', type=float, help='override T')
    parser.add_argument('--out', help='write the metrics as JSON here')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def build_feature_model(cfg, args):
    from mmengine.runner import set_random_seed
    from mmpretrain.registry import MODELS

    # A "random" backbone is reproducible: the config's seed (or 0).
    set_random_seed(cfg.get('randomness', {}).get('seed', None) or 0)
    model = MODELS.build(cfg.model)
    if args.features == 'raw-pixels':
        return model, None
    if args.checkpoint in NO_CHECKPOINT:
        init_weights_quietly(model)
    else:
        if not osp.isfile(args.checkpoint):
            raise FileNotFoundError(
                f'checkpoint {args.checkpoint!r} does not exist (use '
                f'"random" for an untrained backbone)')
        load_checkpoint_checked(
            model, args.checkpoint,
            what=f'the model of {args.config} ({cfg.model.type})')
    if args.network == 'teacher' and hasattr(model, 'teacher'):
        backbone = model.teacher.module.backbone
    else:
        backbone = model.backbone
    return model, backbone


def knn_settings(args, knn_cfg, config):
    """``(ks, temperature)`` from the command line, else the config; both
    checked (a k below 1 or a temperature <= 0 is an error, never replaced
    by a default)."""
    if args.ks:
        ks, where = tuple(args.ks), '--ks'
    else:
        ks, where = tuple(knn_cfg.get('ks', (10, 20, 100, 200))), (
            f'knn_evaluation.ks in {config}')
    if not ks or any(not isinstance(k, int) or k < 1 for k in ks):
        raise ValueError(f'{where}={list(ks)}: expected integers >= 1')
    if args.temperature is not None:
        temperature, where = args.temperature, '--temperature'
    else:
        temperature = knn_cfg.get('temperature', 0.07)
        where = f'knn_evaluation.temperature in {config}'
    if not temperature > 0:
        raise ValueError(f'{where}={temperature}: expected a temperature > 0 '
                         '(the votes are exp(cosine / T))')
    return ks, temperature


def bank_ks(ks, bank_size: int, from_cli: bool) -> dict:
    """How many neighbours each k really uses: ``min(k, bank_size)``. A k
    asked for on the command line that the bank cannot serve is an error;
    one from the config is clamped and reported as such."""
    too_large = [k for k in ks if k > bank_size]
    if too_large and from_cli:
        raise ValueError(
            f'--ks {too_large}: more neighbours than the {bank_size} images '
            'of the memory bank (knn_evaluation.train_dataloader); expected '
            f'k <= {bank_size}')
    return {k: min(k, bank_size) for k in ks}


@torch.no_grad()
def extract(model, backbone, loader, device, what):
    """(features, labels) of every sample, gathered on the main process in
    dataset order."""
    rank, world_size = get_dist_info()
    dataset = loader.dataset
    bar = ProgressBar(len(dataset)) if rank == 0 else None
    if rank == 0:
        print(f'\nextracting {what} features of {len(dataset)} images')
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


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'config file {args.config!r} does not exist')
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    knn_cfg = cfg.get('knn_evaluation', None)
    if knn_cfg is None:
        raise KeyError(f'{args.config} has no `knn_evaluation` dict (data '
                       'loaders of the memory bank and the queries, ks, '
                       'temperature); see configs/pretrain/_base_/'
                       'mst_deit-s_imagenet.py')
    ks, temperature = knn_settings(args, knn_cfg, args.config)
    if args.launcher != 'none':
        # env_cfg.dist_cfg (backend, timeout, ...) as the runner uses it.
        dist_cfg = dict(cfg.get('env_cfg', {}).get('dist_cfg', None) or {})
        backend = dist_cfg.pop('backend', 'nccl')
        if torch.cuda.is_available():
            init_dist(args.launcher, backend=backend, **dist_cfg)
        else:  # mmengine's init_dist needs CUDA
            init_cpu_process_group(
                args.launcher, 'gloo' if backend == 'nccl' else backend,
                **dist_cfg)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ['LOCAL_RANK']))
        device = torch.device('cuda', torch.cuda.current_device())

    model, backbone = build_feature_model(cfg, args)
    model.to(device).eval()

    what = 'raw-pixel' if backbone is None else f'{args.network} backbone'
    loaders = []
    for name in ('train_dataloader', 'val_dataloader'):
        loader_cfg = knn_cfg[name]
        # SelfSupDataPreprocessor reads a list as views: stack the batch.
        loader_cfg.setdefault('collate_fn', dict(type='default_collate'))
        loaders.append(Runner.build_dataloader(loader_cfg))
    train_loader, val_loader = loaders
    # Before extracting anything: a k the memory bank cannot serve.
    effective_ks = bank_ks(
        ks, len(train_loader.dataset), from_cli=bool(args.ks))
    train_feats, train_labels = extract(model, backbone, train_loader, device,
                                        what)
    val_feats, val_labels = extract(model, backbone, val_loader, device,
                                    what)

    metrics = [None]
    if is_main_process():
        classes = train_loader.dataset.metainfo.get('classes')
        num_classes = len(classes) if classes else int(
            max(train_labels.max(), val_labels.max())) + 1
        scores = weighted_knn_classify(
            train_feats.to(device), train_labels.to(device), val_feats,
            num_classes, ks=ks, temperature=temperature)
        metrics = [knn_accuracy(scores, val_labels)]
        print(f'\nweighted k-NN ({what}, T={temperature}, '
              f'{len(train_labels)} train / {len(val_labels)} queries):')
        for k in ks:
            top5 = metrics[0].get(f'k{k}_top5')
            used = effective_ks[k]
            note = (f'  (k={k} is more than the {used} images of the memory '
                    f'bank: all {used} vote)') if used != k else ''
            print(f'  k={k:<4d} top-1 {metrics[0][f"k{k}_top1"]:6.2f}' +
                  (f'  top-5 {top5:6.2f}' if top5 is not None else '') + note)
        if args.out:
            os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
            with open(args.out, 'w') as f:
                json.dump(
                    dict(config=args.config, checkpoint=args.checkpoint,
                         features=what, temperature=temperature,
                         bank_size=len(train_labels),
                         effective_k={f'k{k}': v
                                      for k, v in effective_ks.items()},
                         metrics=metrics[0]), f, indent=2)
    broadcast_object_list(metrics)
    finish_distributed()
    return metrics[0]


if __name__ == '__main__':
    main()
