import math
from typing import Dict, Optional

import torch
from mmengine.dist import all_reduce
from mmengine.hooks import Hook, LoggerHook
from mmengine.model import is_model_wrapper
from mmengine.runner import EpochBasedTrainLoop
from mmpretrain.registry import HOOKS

SIGNALS = ('teacher_entropy', 'teacher_batch_entropy')


class TrainingCollapseError(RuntimeError):
    """Raised by :class:`CollapseDetectionHook` with ``stop=True``."""


@HOOKS.register_module()
class CollapseDetectionHook(Hook):
    r"""Warn (or stop) when DINO-style self-distillation collapses.

    MST/DINO log two collapse signals every iteration (see
    :meth:`MST._collapse_signals`), both in nats, of the teacher's centred
    and sharpened distribution over the K head outputs:

    - ``teacher_entropy``, the mean per-sample entropy H. **Uniform
      collapse** (centering dominates sharpening) drives it to ln K: every
      image gets the same flat target, the distillation loss trains nothing.
    - ``teacher_batch_entropy``, the entropy of the batch-mean distribution.
      **One-dimension collapse** (sharpening dominates centering) drives it
      to 0: every image is sent to the same output.

    Every ``interval`` iterations the hook averages each signal over the
    iterations since the previous check (the values the logger shows, from
    the message hub; averaged over processes too, so that every process
    decides alike) and compares it with a fraction of ln K. A signal beyond
    its threshold for ``patience`` consecutive checks starts a *collapse
    episode*: one loud ``logger.warning`` naming the signal, its value, its
    fraction of ln K and the usual remedies; with ``stop=True`` a
    :class:`TrainingCollapseError` with the same message ends the run. A
    healthy check ends the episode (logged), a later one warns again.

    Defaults, from DINO's practice (Caron et al. 2021, the collapse study of
    its Figure 7: with centering alone the target entropy sits at ln K,
    with sharpening alone at 0, and a working run stays well between):

    - ``max_entropy_ratio=0.9``: a learning teacher is sharp; this
      project's demo target is H < 0.5 ln K. At initialisation, though, a
      random head at the warm-up temperature can already be near 0.9 ln K
      (cosine logits of a d-dim bottleneck have std ~ 1/sqrt(d), / 0.04),
      hence the late start below and a threshold that only flags the flat
      plateau of a real collapse (94-99% of ln K in the collapsed demo runs
      of issue 10).
    - ``min_batch_entropy_ratio=0.1``: ln of about K^0.1 effectively used
      outputs (3 of K = 65536, 2 of K = 2048), i.e. (almost) all images in
      one or two outputs. It is deliberately low because the batch entropy
      is bounded by H + ln(2B), 2B the teacher rows per process: a sharp,
      healthy teacher with a small per-process batch legitimately sits
      well below ln K (ln 256 = 0.5 ln 65536 at DINO's 128 per GPU).
    - ``patience=3``: a single noisy interval never warns.
    - the checks start when the teacher-temperature warm-up is over
      (``begin_epoch=None`` reads ``warmup_teacher_temp_epochs`` of the
      model's ``distill_loss``): during warm-up the temperature, and with it
      every entropy, moves by design, and the random initial head is flat.
      Set ``begin_epoch`` lower (e.g. 1) to hear of a collapse earlier.

    K is the model's: ``head.last_layer.out_features`` (else
    ``distill_loss.out_channels``). With ``distill_weight == 0`` (pure MLM,
    Table 10) the head receives no gradient, its entropy means nothing, and
    the hook does nothing.

    Args:
        interval (int, optional): Iterations between checks. Defaults to
            None: the ``LoggerHook``'s interval (the logged averages), else
            50.
        patience (int): Consecutive bad checks before warning. Defaults
            to 3.
        max_entropy_ratio (float): Uniform collapse when ``teacher_entropy
            > max_entropy_ratio * ln K``. Defaults to 0.9.
        min_batch_entropy_ratio (float): One-dimension collapse when
            ``teacher_batch_entropy < min_batch_entropy_ratio * ln K``.
            Defaults to 0.1.
        begin_epoch (int, optional): First epoch (0-based) checked.
            Defaults to None: the loss's teacher-temperature warm-up epochs.
        begin_iter (int): First iteration (0-based) checked, in addition.
            Defaults to 0.
        stop (bool): Raise :class:`TrainingCollapseError` instead of only
            warning. Defaults to False.
    """

    priority = 'NORMAL'  # after RuntimeInfoHook put the iteration's scalars

    def __init__(self,
                 interval: Optional[int] = None,
                 patience: int = 3,
                 max_entropy_ratio: float = 0.9,
                 min_batch_entropy_ratio: float = 0.1,
                 begin_epoch: Optional[int] = None,
                 begin_iter: int = 0,
                 stop: bool = False) -> None:
        name = type(self).__name__
        if interval is not None and interval < 1:
            raise ValueError(f'{name}: interval={interval} must be >= 1')
        if patience < 1:
            raise ValueError(f'{name}: patience={patience} must be >= 1')
        if not 0. < max_entropy_ratio <= 1.:
            raise ValueError(f'{name}: max_entropy_ratio={max_entropy_ratio}'
                             ' must be in (0, 1] (a fraction of ln K)')
        if not 0. <= min_batch_entropy_ratio < 1.:
            raise ValueError(
                f'{name}: min_batch_entropy_ratio={min_batch_entropy_ratio} '
                'must be in [0, 1) (a fraction of ln K)')
        if begin_epoch is not None and begin_epoch < 0:
            raise ValueError(f'{name}: begin_epoch={begin_epoch} < 0')
        if begin_iter < 0:
            raise ValueError(f'{name}: begin_iter={begin_iter} < 0')
        self.interval = interval
        self.patience = patience
        self.max_entropy_ratio = max_entropy_ratio
        self.min_batch_entropy_ratio = min_batch_entropy_ratio
        self.begin_epoch = begin_epoch
        self.begin_iter = begin_iter
        self.stop = stop
        self.enabled = True
        self.num_checks = 0
        self.k: Optional[int] = None
        self.log_k: Optional[float] = None
        self._bad: Dict[str, int] = {s: 0 for s in SIGNALS}
        self._warned: Dict[str, bool] = {s: False for s in SIGNALS}
        self._first_iter: Optional[int] = None  # the first iteration checked

    # ------------------------------------------------------------- set-up
    def before_train(self, runner) -> None:
        name = type(self).__name__
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        if getattr(model, 'distill_weight', 1.) == 0:
            self.enabled = False
            runner.logger.info(
                f'{name}: distill_weight = 0 (no self-distillation), the '
                "teacher head's entropy says nothing; not checking")
            return
        self.k = k = self._num_outputs(model)
        self.log_k = math.log(k)
        if self.interval is None:
            loggers = [h for h in runner.hooks if isinstance(h, LoggerHook)]
            self.interval = loggers[0].interval if loggers else 50
        if self.begin_epoch is None:
            loss = getattr(model, 'distill_loss', None)
            self.begin_epoch = int(
                getattr(loss, 'warmup_teacher_temp_epochs', 0))
        if self.begin_epoch > 0 and not isinstance(runner.train_loop,
                                                   EpochBasedTrainLoop):
            # runner.epoch never advances: the checks would never start.
            raise ValueError(
                f'{name}(begin_epoch={self.begin_epoch}) counts epochs, but '
                f'the train loop is {type(runner.train_loop).__name__}; set '
                'begin_epoch=0 and begin_iter instead')
        max_epochs = getattr(runner.train_loop, 'max_epochs', None)
        if max_epochs is not None and self.begin_epoch >= max_epochs:
            runner.logger.warning(
                f'{name}: checks would begin at epoch {self.begin_epoch + 1}'
                f' (after the teacher-temperature warm-up) but training '
                f'ends after epoch {max_epochs}: nothing will be checked. '
                'Set begin_epoch lower to check.')
        runner.logger.info(
            f'{name}: from epoch {self.begin_epoch + 1} (iteration >= '
            f'{self.begin_iter}) every {self.interval} iterations, warns '
            f'after {self.patience} checks with teacher_entropy > '
            f'{self.max_entropy_ratio:g} ln K or teacher_batch_entropy < '
            f'{self.min_batch_entropy_ratio:g} ln K (K = {k}, ln K = '
            f'{self.log_k:.2f})' + (', then stops' if self.stop else ''))

    @staticmethod
    def _num_outputs(model) -> int:
        """K, the projection head's output dimension, from the model."""
        last = getattr(getattr(model, 'head', None), 'last_layer', None)
        k = getattr(last, 'out_features', None)
        if k is None:
            k = getattr(
                getattr(model, 'distill_loss', None), 'out_channels', None)
        if k is None:
            raise ValueError(
                f'CollapseDetectionHook: cannot find K, the number of head '
                f'outputs, in {type(model).__name__} (looked for '
                'head.last_layer.out_features and distill_loss.out_channels);'
                ' the hook is for MST/DINO models')
        if int(k) < 2:
            raise ValueError(f'CollapseDetectionHook: K = {k} head outputs; '
                             'entropies need K >= 2')
        return int(k)

    # -------------------------------------------------------------- check
    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        if not self.enabled:
            return
        if runner.epoch < self.begin_epoch or runner.iter < self.begin_iter:
            return
        if self._first_iter is None:
            self._first_iter = runner.iter
        if not self.every_n_train_iters(runner, self.interval):
            return
        # The iterations since the last check, none before the first one.
        window = min(self.interval, runner.iter + 1 - self._first_iter, 1000)
        values = self._read_signals(runner, window)
        self.num_checks += 1
        ratios = {s: v / self.log_k for s, v in values.items()}
        bad = dict(
            teacher_entropy=ratios['teacher_entropy'] > self.max_entropy_ratio,
            teacher_batch_entropy=ratios['teacher_batch_entropy']
            < self.min_batch_entropy_ratio)
        for signal in SIGNALS:
            if not bad[signal]:
                if self._warned[signal]:
                    runner.logger.info(
                        f'CollapseDetectionHook: {signal} recovered at '
                        f'iteration {runner.iter + 1}: {values[signal]:.3f}'
                        f' = {100 * ratios[signal]:.1f}% of ln K')
                self._bad[signal] = 0
                self._warned[signal] = False
                continue
            self._bad[signal] += 1
            if self._bad[signal] >= self.patience and \
                    not self._warned[signal]:
                self._warned[signal] = True
                message = self._message(runner, signal, values[signal],
                                        ratios[signal])
                runner.logger.warning(message)
                if self.stop:
                    raise TrainingCollapseError(message)

    def _read_signals(self, runner, window: int) -> Dict[str, float]:
        """Each signal's mean over the last ``window`` iterations, averaged
        over processes."""
        scalars = runner.message_hub.log_scalars
        missing = [s for s in SIGNALS if f'train/{s}' not in scalars]
        if missing:
            raise KeyError(
                f'CollapseDetectionHook: the model logged no {missing} '
                f'(message hub keys train/...: '
                f'{sorted(k for k in scalars if k.startswith("train/"))}). '
                'It needs a model whose loss() returns teacher_entropy and '
                'teacher_batch_entropy, as MST and DINO (mst_mm MST) do; '
                'remove the hook from custom_hooks for other models')
        means = torch.tensor(
            [float(scalars[f'train/{s}'].mean(window)) for s in SIGNALS],
            dtype=torch.float64)
        all_reduce(means, op='mean')  # every process decides alike
        return dict(zip(SIGNALS, means.tolist()))

    def _message(self, runner, signal: str, value: float, ratio: float) -> str:
        checks = (f'for {self._bad[signal]} consecutive checks of '
                  f'{self.interval} iterations (iteration {runner.iter + 1}, '
                  f'epoch {runner.epoch + 1})')
        if signal == 'teacher_entropy':
            what = (
                f'UNIFORM COLLAPSE: teacher_entropy = {value:.3f} nats = '
                f'{100 * ratio:.1f}% of ln K (K = {self.k}, ln K = '
                f'{self.log_k:.2f}), above the '
                f'{100 * self.max_entropy_ratio:g}% threshold {checks}. The '
                'teacher gives every image an '
                'almost flat target: the distillation loss teaches nothing '
                '(centering dominates sharpening).')
            temperature = ('lower the teacher temperature (distill_loss.'
                           'teacher_temp / warmup_teacher_temp) or keep it '
                           'low longer (warmup_teacher_temp_epochs)')
        else:
            what = (
                f'ONE-DIMENSION COLLAPSE: teacher_batch_entropy = '
                f'{value:.3f} nats = {100 * ratio:.1f}% of ln K (K = '
                f'{self.k}, ln K = {self.log_k:.2f}), below the '
                f'{100 * self.min_batch_entropy_ratio:g}% threshold {checks}.'
                ' The teacher sends every image to the same few outputs '
                '(sharpening dominates centering).')
            temperature = ('raise the teacher temperature (distill_loss.'
                           'teacher_temp / warmup_teacher_temp) and keep '
                           'centering on (center_momentum < 1)')
        remedies = (
            f'Usual remedies: {temperature}; a longer learning-rate warm-up '
            'or a lower lr; a slower teacher EMA (smaller base_momentum, '
            'i.e. lambda closer to 1); a larger batch (per process: the '
            'center and the signals are batch statistics); the center '
            'momentum (distill_loss.center_momentum, DINO 0.9); a smaller '
            'K (head out_channels).')
        action = (f'Training stopped (CollapseDetectionHook stop=True); the '
                  f'last checkpoint is in {runner.work_dir}.' if self.stop else
                  'Training goes on (CollapseDetectionHook stop=True '
                  'would stop it).')
        return f'CollapseDetectionHook: {what} {remedies} {action}'
