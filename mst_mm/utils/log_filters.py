import logging

# Messages that go to the log file only: mmengine's optimizer constructor
# logs one INFO line per parameter and option ("paramwise_options --
# backbone.stages.0.blocks.0.norm1.weight:weight_decay=0.0"), 138-228 lines
# per downstream run, which bury the console.
FILE_ONLY_PREFIXES = ('paramwise_options -- ', )


class _DropPrefixes(logging.Filter):
    """Drops records whose message starts with one of ``prefixes``."""

    def __init__(self, prefixes):
        super().__init__()
        self.prefixes = tuple(prefixes)

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefixes)


def keep_out_of_console(logger: logging.Logger,
                        prefixes=FILE_ONLY_PREFIXES) -> int:
    """Keep messages starting with ``prefixes`` off ``logger``'s console.

    The console handlers (``StreamHandler`` to a terminal stream, not a
    ``FileHandler``) get a filter; the log file still has every line.
    Applying it twice adds nothing.

    Returns:
        int: the number of console handlers filtered.
    """
    count = 0
    for handler in logger.handlers:
        if not isinstance(handler, logging.StreamHandler) or isinstance(
                handler, logging.FileHandler):
            continue
        if not any(isinstance(f, _DropPrefixes) for f in handler.filters):
            handler.addFilter(_DropPrefixes(prefixes))
        count += 1
    return count
