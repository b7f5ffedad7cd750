"""fastloss losses as PyTorch autograd functions on CPU tensors (``pip install 'fastloss[torch]'``).

    >>> import torch
    >>> import fastloss.torch as flt
    >>> pred = torch.randn(8, requires_grad=True)
    >>> target = torch.randn(8)
    >>> loss = flt.huber(target, pred, delta=1.5)   # (target, prediction): fastloss's order
    >>> loss.backward()
    >>> criterion = flt.LossModule("cross_entropy", label_smoothing=0.1)
    >>> criterion(labels, logits).backward()

Every registered loss is a function here, ``fastloss.torch.<name>(y_true, y_pred, *,
sample_weight=None, reduction="mean", **params)``; ``LossModule(name, reduction=..., **params)``
is the ``torch.nn.Module`` wrapper. NOTE the argument order: (target, prediction), fastloss's
convention, the reverse of ``torch.nn.functional`` (input, target); pass them by keyword
(``y_true=``, ``y_pred=``) when porting code.

How it works: a ``torch.autograd.Function`` whose forward calls the loss's ``value_and_grad``
(ONE fused kernel pass) on zero-copy NumPy views of the detached CPU tensors and saves the
gradient; the backward multiplies it by the incoming gradient. No autograd graph is built through
the loss. Only first derivatives (no double backward).

Rules (each broken one raises a clear error): tensors on the CPU (``.cpu()`` others);
predictions float32 or float64 (the gradient comes back in that dtype); the target and the sample
weights do not require grad (fastloss differentiates with respect to the prediction only).
"""

import numpy as np

from fastloss import _integrations as _I
import fastloss as fl

torch = _I.import_library("torch", "torch")

__all__ = ["LossModule", "loss_function", "apply"]


def _tensor_to_numpy(value, name, *, prediction=False):
    """A NumPy view of a CPU tensor (no copy); other array-likes pass through unchanged."""
    if not isinstance(value, torch.Tensor):
        if prediction:
            raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
        return value
    if value.device.type != "cpu":
        raise ValueError(f"fastloss.torch computes on the CPU: {name} is on device "
                         f"'{value.device}'; move it with {name}.cpu()")
    if prediction:
        if value.dtype not in (torch.float32, torch.float64):
            raise TypeError(f"{name} must be float32 or float64, got {value.dtype}")
    elif value.requires_grad:
        raise ValueError(f"{name} requires grad, but fastloss.torch differentiates with respect "
                         f"to the prediction only: pass {name}.detach()")
    return value.detach().resolve_conj().resolve_neg().numpy()


class _FastlossFunction(torch.autograd.Function):
    """value = loss(y_true, y_pred); d value / d y_pred saved from the same kernel pass."""

    @staticmethod
    def forward(ctx, y_pred, y_true, sample_weight, loss, reduction, params):
        pred = _tensor_to_numpy(y_pred, "y_pred", prediction=True)
        value, grad = loss.value_and_grad(
            _tensor_to_numpy(y_true, "y_true"), pred,
            sample_weight=_tensor_to_numpy(sample_weight, "sample_weight"),
            reduction=reduction, **params)
        grad = torch.from_numpy(grad)
        ctx.save_for_backward(grad)
        if reduction == "none":
            return torch.from_numpy(np.asarray(value))
        return torch.tensor(value, dtype=y_pred.dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_output):
        (grad,) = ctx.saved_tensors
        # "none": one incoming value per loss value (per element, or per row of a multiclass
        # loss whose gradient has an extra class axis); reduced: a scalar.
        extra = grad.dim() - grad_output.dim()
        if extra > 0:
            grad_output = grad_output.reshape(grad_output.shape + (1,) * extra)
        return grad * grad_output, None, None, None, None, None


def apply(loss, y_true, y_pred, *, sample_weight=None, reduction="mean", **params):
    """The loss `loss` (a name or a fastloss.Loss) of tensors, differentiable in y_pred.

    Returns a 0-d tensor for reduction "mean" and "sum", the per-element (per-row for multiclass
    losses) tensor for "none", in y_pred's dtype.
    """
    loss = fl.get(loss)
    if not isinstance(y_pred, torch.Tensor):
        raise TypeError(f"y_pred must be a torch.Tensor, got {type(y_pred).__name__}")
    loss.bind(params)
    return _FastlossFunction.apply(y_pred, y_true, sample_weight, loss, reduction, params)


def loss_function(name):
    """``fastloss.torch.<name>``: the function of tensors for the registered loss `name`."""
    loss = fl.get(name)

    def function(y_true, y_pred, *, sample_weight=None, reduction="mean", **params):
        return apply(loss, y_true, y_pred, sample_weight=sample_weight, reduction=reduction,
                     **params)

    function.__name__ = function.__qualname__ = loss.name
    function.__module__ = __name__
    function.__doc__ = (f"fastloss's {loss.name} of torch tensors (y_true, y_pred), "
                        f"differentiable in y_pred; see help(fastloss.{loss.name}).")
    return function


class LossModule(torch.nn.Module):
    """A fastloss loss as a ``torch.nn.Module``: ``LossModule("huber", delta=1.5)(target, pred)``.

    Parameters
    ----------
    loss : str or fastloss.Loss
    reduction : {"mean", "sum", "none"}
    **params
        The loss's parameters, checked now.
    """

    def __init__(self, loss, *, reduction="mean", **params):
        super().__init__()
        self.loss = fl.get(loss)
        self.loss.bind(params)
        self.reduction = reduction
        self.params = params

    def forward(self, y_true, y_pred, sample_weight=None):
        return apply(self.loss, y_true, y_pred, sample_weight=sample_weight,
                     reduction=self.reduction, **self.params)

    def extra_repr(self):
        args = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"{self.loss.name!r}, reduction={self.reduction!r}{args}"


def __getattr__(name):
    # fastloss.torch.<loss>: resolved from the registry, so every loss (and one merged later)
    # has its function without a list here to keep up to date.
    if name in fl.available():
        function = loss_function(name)
        globals()[name] = function
        return function
    raise AttributeError(f"module 'fastloss.torch' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(fl.available()))
