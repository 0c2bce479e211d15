"""The learned per-chat order (numpy): imported only by the composition root, and only with RANKING on."""

import os

# The matrices are small (a few hundred rows): BLAS threads only spin against the event loop and
# each other. Measured on 2 busy cores: a fit took 45 ms with OpenBLAS's threads, 2.3 ms with one.
# It must be set before numpy is first imported; an operator's own setting wins.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

from bot.ranking.service import RankingService  # noqa: E402

__all__ = ["RankingService"]
