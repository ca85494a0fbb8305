import random
from contextlib import contextmanager
from typing import Dict, Optional, Sequence

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS

from ...evaluation import (NETWORKS, build_knn_dataloaders, evaluate_knn,
                           knn_backbone, knn_settings)


@HOOKS.register_module()
class OnlineKNNHook(Hook):
    """Weighted k-NN of the backbone during pre-training, every few epochs.

    Runs the config's ``knn_evaluation`` (the protocol of
    ``tools/knn_eval.py``, through the same functions of
    :mod:`mst_mm.evaluation`: features of the memory bank and the queries
    extracted by every process and gathered on the main one, queries scored
    a chunk at a time, so memory is ``N x D`` features plus ``chunk x N``
    similarities) after every ``interval``-th training epoch, and logs the
    top-1 of each k as ``knn/top1_k{k}`` (``knn/top5_k{k}`` with >= 5
    classes) to the message hub, the log and the visualizer backends
    (``vis_data/scalars.json``, TensorBoard) at the step of the epoch's last
    iteration. So a user sees the representation learn, not only the losses.

    The model is put in eval mode for the extraction and back afterwards, and
    the random generators (Python, NumPy, PyTorch) are restored: a run with
    the hook trains exactly as one without it.

    Args:
        interval (int): Evaluate after every ``interval`` epochs. Defaults
            to 1.
        network (str): ``'teacher'`` (the EMA teacher's backbone, DINO's and
            MST's choice) or ``'student'``. Defaults to ``'teacher'``.
        evaluate_last (bool): Also evaluate after the last epoch when it is
            not a multiple of ``interval``. Defaults to True.
        evaluate_before_train (bool): Also evaluate the initial backbone
            (step 0), the untrained baseline. Defaults to False.
        ks (Sequence[int], optional): Override the config's k values.
        temperature (float, optional): Override the config's T.
        knn_cfg (dict, optional): The ``knn_evaluation`` dict; defaults to
            the config's.
        progress (bool): Progress bars of the extraction. Defaults to False.
    """

    priority = 'LOW'  # after the epoch's own hooks, before checkpointing

    def __init__(self,
                 interval: int = 1,
                 network: str = 'teacher',
                 evaluate_last: bool = True,
                 evaluate_before_train: bool = False,
                 ks: Optional[Sequence[int]] = None,
                 temperature: Optional[float] = None,
                 knn_cfg: Optional[dict] = None,
                 progress: bool = False) -> None:
        if interval < 1:
            raise ValueError(f'OnlineKNNHook: interval={interval} must be '
                             '>= 1 (epochs)')
        if network not in NETWORKS:
            raise ValueError(f'OnlineKNNHook: network={network!r}, expected '
                             f'one of {NETWORKS}')
        self.interval = interval
        self.network = network
        self.evaluate_last = evaluate_last
        self.evaluate_before_train = evaluate_before_train
        self.ks = ks
        self.temperature = temperature
        self.knn_cfg = knn_cfg
        self.progress = progress
        self._loaders = None
        self.history = []  # (step, metrics) of every evaluation

    def before_train(self, runner) -> None:
        knn_cfg = self.knn_cfg
        if knn_cfg is None:
            knn_cfg = runner.cfg.get('knn_evaluation', None)
        if knn_cfg is None:
            raise KeyError(
                'OnlineKNNHook: the config has no `knn_evaluation` dict '
                '(data loaders of the memory bank and the queries, ks, '
                'temperature); add one as configs/pretrain/_base_/datasets/'
                'imagenet_multicrop.py does, or pass knn_cfg')
        ks, temperature = knn_settings(knn_cfg)
        self.ks = tuple(self.ks or ks)
        self.temperature = self.temperature or temperature
        # Built once: the datasets are indexed once, not every evaluation.
        # (Their samplers draw a seed from NumPy's generator.)
        with _preserved_random_state():
            self._loaders = build_knn_dataloaders(knn_cfg, 'OnlineKNNHook')
        if self.evaluate_before_train:
            self.evaluate(runner, 'before training')

    def after_train_epoch(self, runner) -> None:
        if self.every_n_epochs(runner, self.interval) or (
                self.evaluate_last and self.is_last_train_epoch(runner)):
            self.evaluate(runner, f'after epoch {runner.epoch + 1}')

    def evaluate(self, runner, when: str) -> Dict[str, float]:
        """Run k-NN now, log and return the metrics; ``when`` is for the
        log line."""
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        backbone = knn_backbone(model, self.network)
        train_loader, val_loader = self._loaders
        was_training = model.training
        model.eval()
        try:
            with _preserved_random_state():
                metrics = evaluate_knn(
                    model,
                    backbone,
                    train_loader,
                    val_loader,
                    self.ks,
                    self.temperature,
                    what=f'{self.network} backbone',
                    progress=self.progress)
        finally:
            model.train(was_training)
        scalars = {}
        for k in self.ks:
            for top in ('top1', 'top5'):
                if f'k{k}_{top}' in metrics:
                    scalars[f'knn/{top}_k{k}'] = metrics[f'k{k}_{top}']
        step = runner.iter  # the last training iteration's logged step
        for key, value in scalars.items():
            runner.message_hub.update_scalar(key, value)
        runner.visualizer.add_scalars(scalars, step=step)
        runner.logger.info(
            f'k-NN {when}, {self.network} backbone '
            f'(T={self.temperature}, {len(train_loader.dataset)} train / '
            f'{len(val_loader.dataset)} queries): ' +
            ', '.join(f'top-1 k={k} {metrics[f"k{k}_top1"]:.2f}'
                      for k in self.ks))
        self.history.append((step, metrics))
        return metrics


@contextmanager
def _preserved_random_state():
    """Restore Python's, NumPy's and PyTorch's (CPU and current CUDA
    device) generators on exit: creating a DataLoader iterator draws from
    torch's generator, which would shift the training's randomness."""
    state = (random.getstate(), np.random.get_state(), torch.get_rng_state(),
             torch.cuda.get_rng_state() if torch.cuda.is_available() else None)
    try:
        yield
    finally:
        py, np_state, cpu, cuda = state
        random.setstate(py)
        np.random.set_state(np_state)
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state(cuda)
