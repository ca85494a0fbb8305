import logging
import os

from mmengine.logging import MMLogger


def init_weights_quietly(model, log_file: str = os.devnull) -> None:
    """``model.init_weights()`` without one console line per parameter.

    mmengine writes "<name> - <shape>: Initialized by ..." for every
    parameter, to the log file when the current logger has one and to the
    console otherwise. Tools that build a model outside a runner (k-NN of a
    random backbone, pictures, benchmarks) have no log file, so the console
    got about 120 such lines per model. Here the dump goes to ``log_file``
    (nothing by default); warnings are untouched.
    """
    logger = MMLogger.get_current_instance()
    handler = logging.FileHandler(log_file, mode='a', delay=False)
    logger.addHandler(handler)
    try:
        model.init_weights()
    finally:
        logger.removeHandler(handler)
        handler.close()
