from .hooks import *  # noqa: F401,F403
from .optimizers import *  # noqa: F401,F403
from .resumable_worker_init import resumable_worker_init_fn  # noqa: F401
