"""Models built outside a runner initialise without flooding the console."""
import io
import logging

from mmengine.logging import MMLogger

from mst_mm.utils import init_weights_quietly


def _tiny_vit():
    # built directly: the registry lookup would depend on the default scope
    # that earlier tests left behind
    from mst_mm.models.backbones import MSTViT
    return MSTViT(
        arch=dict(
            embed_dims=16, num_layers=1, num_heads=2, feedforward_channels=32),
        img_size=16,
        patch_size=4)


def _console(logger):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    return stream, handler


def test_init_dump_goes_to_the_file_not_the_console(tmp_path):
    logger = MMLogger.get_instance('quiet_init_test')
    logger.setLevel(logging.INFO)
    stream, handler = _console(logger)
    try:
        # What mmengine does without a log file: one block per parameter.
        _tiny_vit().init_weights()
        assert stream.getvalue().count('torch.Size') > 10
        stream.truncate(0)
        stream.seek(0)

        log_file = tmp_path / 'init.log'
        init_weights_quietly(_tiny_vit(), str(log_file))
        assert 'torch.Size' not in stream.getvalue()
        assert log_file.read_text().count('torch.Size') > 10
        # The temporary file handler is gone afterwards.
        assert not any(
            isinstance(h, logging.FileHandler) for h in logger.handlers)
        logger.warning('a real warning')
        assert 'a real warning' in stream.getvalue()
    finally:
        logger.removeHandler(handler)
