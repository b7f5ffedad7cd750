"""Peers: other libraries computing the same losses, each in its fastest honest form.

- ``torch``: PyTorch on the CPU, ``torch.nn.functional`` for values (under ``no_grad``) and
  autograd (forward, then ``torch.autograd.grad``) for gradients; threads by
  ``torch.set_num_threads``. ``grad_hess`` is double backward (the gradient of the summed
  gradient: H 1, which is the Hessian's diagonal where each prediction's term of the loss
  depends on that prediction only); not for softmax cross-entropy, whose H 1 is zero. A loss PyTorch has no function for (hinge, squared hinge, focal,
  categorical cross-entropy from probabilities) is its formula in torch ops, as a PyTorch user
  writes it (focal: torchvision's ``sigmoid_focal_loss``).
- ``sklearn``: scikit-learn's Cython loss module ``sklearn._loss`` with ``n_threads``.
  It computes per-sample gradients, and some of its losses are halved (HalfSquaredError);
  the constant factor is applied outside the timed call, for the agreement check only.
  ``grad_hess`` is its ``gradient_hessian``, where its Hessian is the loss's own (not for
  AbsoluteError and PinballLoss, whose Hessian is a constant 1 stand-in for 0).
- ``jax``: the loss formula in ``jax.numpy`` (``jax.nn``, ``jax.scipy.special``) under ``jax.jit`` (``jax.grad`` /
  ``jax.value_and_grad`` for gradients; ``grad_hess`` is the gradient and its forward-mode
  derivative along ones (the Hessian's diagonal, as for PyTorch), ``jax.jvp(jax.grad(f), (p,), (ones,))``, the
  Hessian-vector product of JAX's documentation), timed with ``block_until_ready``, float64 enabled.
  XLA chooses its own CPU threads: the thread setting does not apply (the report says so).

A peer that is not installed is reported as ``missing``; a loss a peer does not have is
``unsupported``. Nothing is ever substituted. Adding a loss to a peer: one adapter function
below and one line in that peer's table (the agreement check catches a wrong adapter).
"""

import contextlib
import importlib

import numpy as np

from fastloss.bench.cases import Impl, Unavailable

# --------------------------------------------------------------------------- the Peer class


def _hessian_floor(grad_hess):
    """fastloss's grad_hess gives max(d2l/dp2, hess_floor), the floor 0 by default (negative
    curvature, e.g. focal's, is no use to a Newton step); autodiff peers give d2l/dp2. The same
    floor is applied to theirs outside the timed call, for the agreement check only."""
    grad, hess = grad_hess
    return grad, np.maximum(hess, 0.0)       # NaN stays NaN

_NOT_DIAGONAL = ("softmax cross-entropy's Hessian is not diagonal: autodiff's H 1 (zero) is "
                 "not its diagonal, and the peer has no function for the diagonal")


class Peer:
    """A library to compare with: how to import it, its version, and its loss adapters.

    ``adapters`` maps a fastloss loss name to ``adapter(module, case, op, n_threads)`` returning
    an Impl, or None when the case is outside what the peer computes (e.g. a parameter value
    it has no equivalent for).
    """

    threaded = True          # whether the thread setting applies to this peer's calls

    def __init__(self, name, module, label, adapters, threads_note):
        self.name = name
        self.module_name = module
        self.label = label
        self.adapters = dict(adapters)
        self.threads_note = threads_note
        self._loaded = None

    def load(self):
        """(module or None, status dict); imported once, lazily."""
        if self._loaded is None:
            try:
                module = self._import()
            except Exception as exc:      # ImportError, or a broken install
                self._loaded = (None, {"status": "missing", "label": self.label,
                                       "reason": f"not installed (import {self.module_name}: "
                                                 f"{type(exc).__name__}: {exc})"})
            else:
                self._loaded = (module, {"status": "available", "label": self.label,
                                         "version": self._version(module),
                                         "threads": self.threads_note})
        return self._loaded

    def _import(self):
        return importlib.import_module(self.module_name)

    def _version(self, module):
        return getattr(module, "__version__", "unknown")

    def status(self):
        return dict(self.load()[1])

    def implementation(self, case, op, n_threads):
        module, status = self.load()
        if module is None:
            return Unavailable(self.name, "missing", status["reason"])
        adapter = self.adapters.get(case.name)
        if adapter is None:
            return Unavailable(self.name, "unsupported", f"{self.name} has no {case.name} loss")
        impl = adapter(module, case, op, n_threads)
        if impl is None and op == "grad_hess" and adapter(module, case, "grad", n_threads):
            return Unavailable(self.name, "unsupported", _NOT_DIAGONAL if case.name ==
                               "cross_entropy" else f"{self.name} has no {case.name} Hessian")
        if impl is None:
            return Unavailable(self.name, "unsupported",
                               f"{self.name} cannot compute {case.name} for these inputs/parameters")
        impl.name = self.name
        return impl


def _two_arrays(case):
    """(y, p) for an elementwise case of two same-shape float arrays, else None."""
    if len(case.inputs) != 2:
        return None
    y, p = (np.asarray(a) for a in case.inputs)
    if y.shape != p.shape or y.dtype != p.dtype or p.dtype.kind != "f":
        return None
    return y, p


def _neutral(params, **neutral):
    """True when every parameter not listed in `neutral` is None and listed ones are None or
    have the given neutral value (adapters for losses whose options a peer cannot express)."""
    for key, value in params.items():
        if key in neutral:
            if value is not None and value != neutral[key]:
                return False
        elif value is not None:
            return False
    return True


# --------------------------------------------------------------------------- PyTorch


@contextlib.contextmanager
def _torch_threads(torch, n):
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _torch_impl(torch, op, n_threads, forward, tensors, wrt, diagonal=False):
    """Impl for a torch loss: forward(*tensors) -> scalar tensor (the mean over rows); gradients
    w.r.t. tensors[wrt]. grad_hess only for one prediction array whose Hessian is `diagonal`."""
    threads = lambda: _torch_threads(torch, n_threads)
    if op == "value":
        def call():
            with torch.no_grad():
                return forward(*tensors).item()
        return Impl("torch", call, threads=threads)
    leaves = list(tensors)
    for i in wrt:
        leaves[i] = tensors[i].detach().requires_grad_(True)   # shares memory with NumPy
    inputs = [leaves[i] for i in wrt]
    single = len(wrt) == 1
    if op == "grad_hess":
        if not (diagonal and single):
            return None
        q, rows = inputs[0], inputs[0].shape[0]

        def call():
            total = forward(*leaves) * rows          # the sum: per-element derivatives
            grad, = torch.autograd.grad(total, q, create_graph=True)
            hess, = torch.autograd.grad(grad.sum(), q)
            return grad.detach(), hess

        return Impl("torch", call, finish=lambda r: _hessian_floor(
            (r[0].numpy(), r[1].numpy(force=True))), threads=threads)   # force: a ZeroTensor

    def call():
        value = forward(*leaves)
        grads = torch.autograd.grad(value, inputs)
        if op == "grad":
            return grads
        return value.detach(), grads

    def finish(result):
        grads = result if op == "grad" else result[1]
        grads = tuple(g.numpy() for g in grads)
        grads = grads[0] if single else grads
        return grads if op == "grad" else (float(result[0]), grads)

    return Impl("torch", call, finish=finish, threads=threads)


def _torch_elementwise(function, **param_names):
    """Adapter for torch.nn.functional.<function>(prediction, target, **params);
    `param_names` maps torch's keyword to the fastloss parameter it takes."""
    def adapter(torch, case, op, n_threads):
        pair = _two_arrays(case)
        if pair is None:
            return None
        y, p = (torch.from_numpy(np.ascontiguousarray(a)) for a in pair)
        kwargs = {theirs: case.params[ours] for theirs, ours in param_names.items()}
        fn = getattr(torch.nn.functional, function)
        return _torch_impl(torch, op, n_threads, lambda t, q: fn(q, t, **kwargs), (y, p), (1,),
                           diagonal=True)
    return adapter


def _torch_cross_entropy(torch, case, op, n_threads):
    """cross_entropy(labels (N,), logits (N, K)) with no options set."""
    if len(case.inputs) != 2 or not _neutral(case.params, label_smoothing=0.0):
        return None
    labels, logits = (np.asarray(a) for a in case.inputs)
    if labels.dtype.kind not in "iu" or logits.ndim != 2 or labels.shape != logits.shape[:1]:
        return None
    target = torch.from_numpy(labels.astype(np.int64))     # torch wants int64 labels
    z = torch.from_numpy(np.ascontiguousarray(logits))
    fn = torch.nn.functional.cross_entropy
    return _torch_impl(torch, op, n_threads, lambda t, q: fn(q, t), (target, z), (1,))


def _torch_triplet(torch, case, op, n_threads):
    """triplet_margin(anchor, positive, negative): gradients for all three inputs."""
    if len(case.inputs) != 3:
        return None
    params = dict(case.params)
    if params.get("distance", "euclidean") not in ("euclidean", None, "p"):
        return None
    kwargs = {k: params[k] for k in ("margin", "p", "eps", "swap") if k in params}
    tensors = tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in case.inputs)
    fn = torch.nn.functional.triplet_margin_loss
    return _torch_impl(torch, op, n_threads, lambda a, b, c: fn(a, b, c, **kwargs), tensors,
                       (0, 1, 2))


def _torch_bce_with_logits(torch, case, op, n_threads):
    if not _neutral(case.params, pos_weight=1.0):
        return None
    return _torch_elementwise("binary_cross_entropy_with_logits")(torch, case, op, n_threads)



def _default_eps(eps, dtype):
    """fastloss's clip of probabilities: eps, or by default the machine epsilon of the dtype."""
    return float(np.finfo(dtype).eps) if eps is None else eps


def _torch_formula(formula):
    """Adapter for a loss PyTorch has no function for, written as a PyTorch user would with
    torch ops: formula(torch, y, p, params, dtype) -> scalar tensor (gradient w.r.t. p)."""
    def adapter(torch, case, op, n_threads):
        pair = _two_arrays(case)
        if pair is None:
            return None
        dtype = pair[1].dtype
        y, p = (torch.from_numpy(np.ascontiguousarray(a)) for a in pair)
        return _torch_impl(torch, op, n_threads,
                           lambda t, q: formula(torch, t, q, case.params, dtype), (y, p), (1,),
                           diagonal=True)
    return adapter


def _torch_hinge(torch, y, s, params, dtype):
    # (r + |r|) / 2 = max(r, 0) with the midpoint subgradient 1/2 at the kink, fastloss's and
    # JAX's convention (torch.clamp passes 1 there: a float32 run has such points). Labels -1/+1.
    r = params["margin"] - y * s
    return ((r + r.abs()) * 0.5).mean()


def _torch_squared_hinge(torch, y, s, params, dtype):
    return torch.clamp(params["margin"] - y * s, min=0.0).square().mean()


def _torch_focal(torch, y, z, params, dtype):
    """torchvision.ops.sigmoid_focal_loss(reduction="mean"), its formula."""
    p = torch.sigmoid(z)
    ce = torch.nn.functional.binary_cross_entropy_with_logits(z, y, reduction="none")
    p_t = p * y + (1 - p) * (1 - y)
    loss = ce * (1 - p_t) ** params["gamma"]
    if params["alpha"] >= 0:
        loss = (params["alpha"] * y + (1 - params["alpha"]) * (1 - y)) * loss
    return loss.mean()


def _torch_bce(torch, case, op, n_threads):
    """binary_cross_entropy(probabilities): torch clamps its log at -100 instead of clipping
    the probability; the bench's probabilities (0.01 to 0.99) meet neither."""
    pair = _two_arrays(case)
    if pair is None:
        return None
    y, p = (torch.from_numpy(np.ascontiguousarray(a)) for a in pair)
    fn = torch.nn.functional.binary_cross_entropy
    return _torch_impl(torch, op, n_threads, lambda t, q: fn(q, t), (y, p), (1,),
                       diagonal=True)


def _rows_pair(case):
    """(targets, predictions (N, K)) of a row-wise case with labels (N,) or probability rows."""
    if len(case.inputs) != 2:
        return None
    target, pred = (np.asarray(a) for a in case.inputs)
    if pred.ndim != 2 or pred.dtype.kind != "f":
        return None
    if target.dtype.kind in "iu" and target.shape == pred.shape[:1]:
        return target, pred
    if target.shape == pred.shape and target.dtype.kind == "f":
        return target.astype(pred.dtype), pred
    return None


def _torch_kl(torch, case, op, n_threads):
    """kl_div(log q, p, reduction="batchmean"): the log of q is part of the timed call."""
    pair = _rows_pair(case)
    if pair is None or pair[0].dtype.kind in "iu":
        return None
    p, q = (torch.from_numpy(np.ascontiguousarray(a)) for a in pair)
    fn = torch.nn.functional.kl_div
    log_input = case.params.get("log_input")
    forward = (lambda t, x: fn(x, t, reduction="batchmean")) if log_input else \
        (lambda t, x: fn(torch.log(x), t, reduction="batchmean"))
    return _torch_impl(torch, op, n_threads, forward, (p, q), (1,), diagonal=True)


def _torch_categorical_ce(torch, case, op, n_threads):
    """-sum_k t_k log(clamp(q_k, eps, 1 - eps)), averaged over rows, in torch ops."""
    pair = _rows_pair(case)
    if pair is None:
        return None
    target, pred = pair
    eps = _default_eps(case.params.get("eps"), pred.dtype)
    q = torch.from_numpy(np.ascontiguousarray(pred))
    if target.dtype.kind in "iu":
        t = torch.from_numpy(target.astype(np.int64))[:, None]
        forward = lambda t, x: -torch.log(torch.clamp(x.gather(1, t), eps, 1 - eps)).mean()
    else:
        t = torch.from_numpy(np.ascontiguousarray(target))
        forward = lambda t, x: -(t * torch.log(torch.clamp(x, eps, 1 - eps))).sum(1).mean()
    return _torch_impl(torch, op, n_threads, forward, (t, q), (1,), diagonal=True)


TORCH = Peer("torch", "torch", "PyTorch CPU (torch.nn.functional, autograd)", {
    "mse": _torch_elementwise("mse_loss"),
    "mae": _torch_elementwise("l1_loss"),
    "huber": _torch_elementwise("huber_loss", delta="delta"),
    "binary_cross_entropy_with_logits": _torch_bce_with_logits,
    "cross_entropy": _torch_cross_entropy,
    "triplet_margin": _torch_triplet,
    "binary_cross_entropy": _torch_bce,
    "hinge": _torch_formula(_torch_hinge),
    "squared_hinge": _torch_formula(_torch_squared_hinge),
    "focal": _torch_formula(_torch_focal),
    "kl_divergence": _torch_kl,
    "categorical_cross_entropy": _torch_categorical_ce,
}, threads_note="torch.set_num_threads")


# --------------------------------------------------------------------------- scikit-learn


def _sklearn_impl(loss_object, op, n_threads, y, raw, value_factor, grad_factor):
    """sklearn._loss: the mean by its own __call__ (np.average of the per-sample losses),
    per-sample gradients; fastloss's factors (1/n of the mean, 2 of a half loss) are applied
    outside the timed call. grad_hess is per element, unreduced: only the half loss's factor."""
    if op == "grad_hess":
        call = lambda: loss_object.gradient_hessian(y, raw, n_threads=n_threads)
        finish = lambda r: (r[0] * value_factor, r[1] * value_factor)
    elif op == "value":
        call = lambda: loss_object(y, raw, n_threads=n_threads)
        finish = lambda v: float(v) * value_factor
    elif op == "grad":
        call = lambda: loss_object.gradient(y, raw, n_threads=n_threads)
        finish = lambda g: g * grad_factor
    else:
        def call():
            losses, grads = loss_object.loss_gradient(y, raw, n_threads=n_threads)
            return losses.mean(), grads
        finish = lambda r: (float(r[0]) * value_factor, r[1] * grad_factor)
    return Impl("sklearn", call, finish=finish, note="n_threads")


def _sklearn_elementwise(class_name, factor=1.0, hessian=True, **param_names):
    """Adapter for sklearn._loss.loss.<class_name>(**params); `factor` = fastloss / sklearn;
    `param_names` maps sklearn's keyword to the fastloss parameter it takes; `hessian`: False
    where sklearn's gradient_hessian is not the loss's Hessian."""
    def adapter(sklearn_loss, case, op, n_threads):
        pair = _two_arrays(case)
        if pair is None or pair[1].ndim != 1 or (op == "grad_hess" and not hessian):
            return None
        y, p = pair
        kwargs = {theirs: case.params[ours] for theirs, ours in param_names.items()}
        loss_object = getattr(sklearn_loss, class_name)(**kwargs)
        return _sklearn_impl(loss_object, op, n_threads, y, p, factor, factor / max(p.size, 1))
    return adapter


def _sklearn_cross_entropy(sklearn_loss, case, op, n_threads):
    if len(case.inputs) != 2 or not _neutral(case.params, label_smoothing=0.0):
        return None
    labels, logits = (np.asarray(a) for a in case.inputs)
    if labels.dtype.kind not in "iu" or logits.ndim != 2 or labels.shape != logits.shape[:1]:
        return None
    y = labels.astype(logits.dtype)           # sklearn takes labels as floats of the same dtype
    loss_object = sklearn_loss.HalfMultinomialLoss(n_classes=logits.shape[1])
    return _sklearn_impl(loss_object, op, n_threads, y, np.ascontiguousarray(logits), 1.0,
                         1.0 / max(len(y), 1))


def _sklearn_bce_with_logits(sklearn_loss, case, op, n_threads):
    if not _neutral(case.params, pos_weight=1.0):
        return None
    return _sklearn_elementwise("HalfBinomialLoss")(sklearn_loss, case, op, n_threads)


class _SklearnPeer(Peer):
    def _import(self):
        return importlib.import_module("sklearn._loss.loss")

    def _version(self, module):
        return importlib.import_module("sklearn").__version__


SKLEARN = _SklearnPeer("sklearn", "sklearn", "scikit-learn sklearn._loss (Cython, n_threads)", {
    "mse": _sklearn_elementwise("HalfSquaredError", factor=2.0),
    "mae": _sklearn_elementwise("AbsoluteError", hessian=False),
    "huber": _sklearn_elementwise("HuberLoss", delta="delta"),
    "quantile": _sklearn_elementwise("PinballLoss", hessian=False, quantile="alpha"),
    "binary_cross_entropy_with_logits": _sklearn_bce_with_logits,
    "cross_entropy": _sklearn_cross_entropy,
}, threads_note="n_threads argument")


# --------------------------------------------------------------------------- JAX


def _jax_formulas(jnp, jax):
    """The mean loss of each supported loss in jax.numpy: f(y, p, **params) -> scalar."""
    def huber(y, p, delta):
        r = jnp.abs(p - y)
        return jnp.mean(jnp.where(r <= delta, 0.5 * r * r, delta * (r - 0.5 * delta)))

    def quantile(y, p, alpha):
        r = y - p
        return jnp.mean(jnp.where(r >= 0, alpha * r, (alpha - 1.0) * r))

    def log_cosh(y, p):
        r = p - y
        return jnp.mean(jnp.logaddexp(r, -r) - jnp.log(2.0))

    def bce_with_logits(y, z):
        return jnp.mean(jax.nn.softplus(z) - y * z)

    def cross_entropy(labels, z):
        logp = jax.nn.log_softmax(z, axis=-1)
        return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=-1))

    def hinge(y, s, margin):
        return jnp.mean(jnp.maximum(margin - y * s, 0.0))     # labels -1/+1

    def squared_hinge(y, s, margin):
        return jnp.mean(jnp.maximum(margin - y * s, 0.0) ** 2)

    def bce(y, p, eps):
        pc = jnp.clip(p, _default_eps(eps, p.dtype), 1 - _default_eps(eps, p.dtype))
        return -jnp.mean(y * jnp.log(pc) + (1 - y) * jnp.log1p(-pc))

    def focal(y, z, gamma, alpha):
        p = jax.nn.sigmoid(z)
        ce = jax.nn.softplus(z) - y * z
        p_t = p * y + (1 - p) * (1 - y)
        loss = ce * (1 - p_t) ** gamma
        if alpha >= 0:
            loss = (alpha * y + (1 - alpha) * (1 - y)) * loss
        return jnp.mean(loss)

    def kl_divergence(p, q, log_input):
        log_q = q if log_input else jnp.log(q)
        xlogy = jax.scipy.special.xlogy
        return jnp.sum(xlogy(p, p) - jnp.where(p == 0, 0.0, p * log_q)) / p.shape[0]

    def categorical_cross_entropy(t, q, eps):
        qc = jnp.clip(q, _default_eps(eps, q.dtype), 1 - _default_eps(eps, q.dtype))
        if t.ndim == 1:
            return -jnp.mean(jnp.log(jnp.take_along_axis(qc, t[:, None], axis=-1)))
        return -jnp.mean(jnp.sum(t * jnp.log(qc), axis=-1))

    return {
        "mse": lambda y, p: jnp.mean((y - p) ** 2),
        "mae": lambda y, p: jnp.mean(jnp.abs(y - p)),
        "huber": huber,
        "quantile": quantile,
        "log_cosh": log_cosh,
        "binary_cross_entropy_with_logits": bce_with_logits,
        "cross_entropy": cross_entropy,
        "hinge": hinge,
        "squared_hinge": squared_hinge,
        "binary_cross_entropy": bce,
        "focal": focal,
        "kl_divergence": kl_divergence,
        "categorical_cross_entropy": categorical_cross_entropy,
    }


def _jax_grad_hess(jax, loss):
    """(gradient, Hessian diagonal) of a loss averaged over rows whose Hessian is diagonal, per
    element (times the rows): the gradient and its derivative along ones, H 1, in one
    forward-over-reverse pass."""
    def grad_hess(y, p):
        total = lambda q: loss(y, q) * q.shape[0]
        return jax.jvp(jax.grad(total), (p,), (jax.numpy.ones_like(p),))
    return grad_hess


class _JaxPeer(Peer):
    threaded = False

    def _import(self):
        jax = importlib.import_module("jax")
        jax.config.update("jax_enable_x64", True)     # float64 inputs stay float64
        importlib.import_module("jax.numpy")
        importlib.import_module("jax.scipy.special")
        return jax

    def implementation(self, case, op, n_threads):
        jax, status = self.load()
        if jax is None:
            return Unavailable(self.name, "missing", status["reason"])
        formulas = _jax_formulas(jax.numpy, jax)
        if case.name not in formulas:
            return Unavailable(self.name, "unsupported", f"no JAX formula for {case.name}")
        params = dict(case.params)
        if case.name == "cross_entropy":
            labels, logits = (np.asarray(a) for a in case.inputs) if len(case.inputs) == 2 \
                else (None, None)
            fits = (labels is not None and labels.dtype.kind in "iu" and logits.ndim == 2
                    and labels.shape == logits.shape[:1])
        elif case.name in ("kl_divergence", "categorical_cross_entropy"):
            fits = _rows_pair(case) is not None
            fits = fits and not (case.name == "kl_divergence"
                                 and np.asarray(case.inputs[0]).dtype.kind in "iu")
        else:
            fits = _two_arrays(case) is not None
        if case.name in ("binary_cross_entropy_with_logits", "cross_entropy"):
            fits = fits and _neutral(params, label_smoothing=0.0, pos_weight=1.0)
            params = {}
        if not fits:
            return Unavailable(self.name, "unsupported",
                               f"no JAX formula for {case.name} with these inputs/parameters")
        if op == "grad_hess" and case.name == "cross_entropy":
            return Unavailable(self.name, "unsupported", _NOT_DIAGONAL)
        f = formulas[case.name]
        loss = lambda y, p: f(y, p, **params)
        jitted = jax.jit({"value": loss, "grad": jax.grad(loss, argnums=1),
                          "value_and_grad": jax.value_and_grad(loss, argnums=1),
                          "grad_hess": _jax_grad_hess(jax, loss)}[op])
        pair = _rows_pair(case) if case.name in ("kl_divergence", "categorical_cross_entropy") \
            else case.inputs
        y, p = (jax.device_put(np.asarray(a)) for a in pair)
        call = lambda: jax.block_until_ready(jitted(y, p))
        if op == "value":
            finish = float
        elif op == "grad":
            finish = np.asarray
        elif op == "grad_hess":
            finish = lambda r: _hessian_floor((np.asarray(r[0]), np.asarray(r[1])))
        else:
            finish = lambda r: (float(r[0]), np.asarray(r[1]))
        return Impl(self.name, call, finish=finish, threaded=False,
                    note="XLA's own CPU threads (not settable per call)")


JAX = _JaxPeer("jax", "jax", "JAX (jit, block_until_ready)", {},
               threads_note="XLA default (not settable per call)")


# --------------------------------------------------------------------------- registry

PEERS = {peer.name: peer for peer in (TORCH, SKLEARN, JAX)}


def get_peer(name):
    try:
        return PEERS[name]
    except KeyError:
        raise ValueError(f"unknown peer {name!r}; known: {', '.join(PEERS)}") from None
