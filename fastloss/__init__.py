"""fastloss: high-performance loss functions (typed Cython + OpenMP kernels, NumPy API).

    >>> import fastloss as fl
    >>> fl.mse([1.0, 2.0], [1.5, 2.0])
    0.125
    >>> fl.mse.grad([1.0, 2.0], [1.5, 2.0])
    array([0.5, 0. ])

Every loss is a :class:`Loss` with ``__call__``, ``grad``, ``value_and_grad`` and ``grad_hess``;
``get(name)`` and ``available()`` are the registry; thread control is ``set_num_threads``,
``get_num_threads`` and ``threads``; ``show_config()`` describes the build.
"""

__version__ = "0.1.0"

from fastloss._loss import Loss, ElementwiseLoss, Param, get, available
from fastloss._threads import get_num_threads, set_num_threads, threads
from fastloss._config import show_config, config, cache_info, set_cache_limit, empty_cache
from fastloss.losses.regression import mse, mae, huber, quantile, log_cosh
from fastloss.losses.multiclass import (MulticlassLoss, cross_entropy, categorical_cross_entropy,
                                        multiclass_hinge, softmax_focal, kl_divergence)
from fastloss.losses.binary import (binary_cross_entropy, binary_cross_entropy_with_logits,
                                    hinge, squared_hinge, focal)
from fastloss.losses.metric import triplet_margin, contrastive
from fastloss import penalties
from fastloss.penalties import l1_penalty, l2_penalty, elastic_net, Objective
from fastloss import reference
from fastloss.scoring import score, ScoreResult

__all__ = [
    "Loss", "ElementwiseLoss", "Param", "get", "available",
    "get_num_threads", "set_num_threads", "threads", "show_config", "config", "reference",
    "cache_info", "set_cache_limit", "empty_cache",
    "mse", "mae", "huber", "quantile", "log_cosh",
    "MulticlassLoss", "cross_entropy", "categorical_cross_entropy", "multiclass_hinge",
    "softmax_focal", "kl_divergence",
    "score", "ScoreResult",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "hinge", "squared_hinge", "focal",
    "triplet_margin", "contrastive",
    "penalties", "l1_penalty", "l2_penalty", "elastic_net", "Objective",
]
