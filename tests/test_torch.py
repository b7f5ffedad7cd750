"""fastloss.torch: autograd functions over fastloss kernels, against torch.nn.functional.

Classification tests are skipped until the classification losses are registered.
"""

import numpy as np
import pytest

import fastloss as fl

torch = pytest.importorskip("torch")
import torch.nn.functional as F   # noqa: E402
import fastloss.torch as flt      # noqa: E402


def needs(name):
    return pytest.mark.skipif(name not in fl.available(), reason=f"{name} loss not merged yet")


def regression_tensors(n=37, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    target = torch.randn(n, generator=g, dtype=dtype)
    pred = (2.0 * torch.randn(n, generator=g, dtype=dtype)).requires_grad_()
    return target, pred


REGRESSION_PAIRS = [
    ("mse", {}, lambda p, t: F.mse_loss(p, t)),
    ("mae", {}, lambda p, t: F.l1_loss(p, t)),
    ("huber", {"delta": 0.7}, lambda p, t: F.huber_loss(p, t, delta=0.7)),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name,params,reference", REGRESSION_PAIRS,
                         ids=[p[0] for p in REGRESSION_PAIRS])
def test_regression_matches_torch_functional(name, params, reference, reduction, dtype):
    target, pred = regression_tensors(dtype=dtype)
    ours = getattr(flt, name)(target, pred, reduction=reduction, **params)
    pred_ref = pred.detach().clone().requires_grad_()
    theirs = {"mean": lambda x: x, "sum": lambda x: x * target.numel(), "none": None}[reduction]
    if reduction == "none":
        expected = {"mse": F.mse_loss, "mae": F.l1_loss,
                    "huber": lambda p, t, reduction: F.huber_loss(p, t, reduction=reduction,
                                                                  delta=0.7)}[name](
            pred_ref, target, reduction="none")
    else:
        expected = theirs(reference(pred_ref, target))
    assert ours.dtype == dtype and ours.shape == expected.shape
    tol = {"rtol": 1e-6, "atol": 1e-6} if dtype == torch.float32 else {"rtol": 1e-12, "atol": 0}
    torch.testing.assert_close(ours, expected.detach(), **tol)
    # A non-trivial upstream gradient checks that backward multiplies by grad_output.
    upstream = torch.linspace(0.5, 1.5, ours.numel(), dtype=dtype).reshape(ours.shape)
    (ours * upstream).sum().backward()
    (expected * upstream).sum().backward()
    assert pred.grad.dtype == dtype
    torch.testing.assert_close(pred.grad, pred_ref.grad, **tol)


@pytest.mark.parametrize("name,params", [("mse", {}), ("huber", {"delta": 0.7}),
                                         ("log_cosh", {}), ("quantile", {"alpha": 0.3})])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gradcheck_float64(name, params, reduction):
    target, pred = regression_tensors(n=11)
    weight = torch.linspace(0.5, 2.0, 11, dtype=torch.float64)

    def f(p):
        return getattr(flt, name)(target, p, sample_weight=weight, reduction=reduction, **params)

    assert torch.autograd.gradcheck(f, (pred,), eps=1e-6, atol=1e-8, rtol=1e-6)


def test_weighted_mean_and_two_dimensional_inputs():
    target, pred = regression_tensors(n=24)
    target, pred = target.reshape(4, 6), pred.detach().reshape(4, 6).requires_grad_()
    weight = torch.arange(24, dtype=torch.float64).reshape(4, 6)
    value = flt.mse(target, pred, sample_weight=weight)
    expected = ((pred - target) ** 2 * weight).sum() / weight.sum()
    torch.testing.assert_close(value, expected.detach(), rtol=1e-13, atol=0)
    value.backward()
    torch.testing.assert_close(pred.grad, 2 * (pred - target).detach() * weight / weight.sum(),
                               rtol=1e-13, atol=0)


def test_module_wrapper_and_training_step():
    torch.manual_seed(0)
    X = torch.randn(64, 3, dtype=torch.float64)
    y = X @ torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64) + 0.3
    model = torch.nn.Linear(3, 1, dtype=torch.float64)
    criterion = flt.LossModule("huber", delta=1.0)
    assert "huber" in repr(criterion) and "delta=1.0" in repr(criterion)
    losses = []
    for _ in range(60):      # plain SGD (torch.optim's first import alone takes seconds)
        model.zero_grad()
        loss = criterion(y, model(X).squeeze(1))
        loss.backward()
        with torch.no_grad():
            for parameter in model.parameters():
                parameter -= 0.5 * parameter.grad
        losses.append(loss.item())
    assert losses[-1] < 0.01 * losses[0]
    torch.testing.assert_close(model.weight.detach().squeeze(),
                               torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64),
                               atol=0.05, rtol=0)


def test_forward_uses_zero_copy_views_and_returns_the_kernel_gradient():
    target, pred = regression_tensors(n=8)
    calls = []
    original = fl.mse.value_and_grad

    class Spy:
        family = "regression"
        name = "mse"

        def bind(self, params):
            return ()

        def value_and_grad(self, y_true, y_pred, **kwargs):
            calls.append((y_true, y_pred))
            return original(y_true, y_pred, **kwargs)

    value = flt._FastlossFunction.apply(pred, target, None, Spy(), "mean", {})
    (y_np, p_np), = calls
    assert np.shares_memory(p_np, pred.detach().numpy())
    assert np.shares_memory(y_np, target.numpy())
    value.backward()
    torch.testing.assert_close(pred.grad, 2 * (pred - target).detach() / 8, rtol=1e-14, atol=0)


def test_non_contiguous_prediction():
    target, pred = regression_tensors(n=20)
    strided = pred[::2]
    flt.mae(target[::2], strided).backward()
    expected = torch.zeros(20, dtype=torch.float64)
    expected[::2] = torch.sign(pred.detach()[::2] - target[::2]) / 10
    torch.testing.assert_close(pred.grad, expected)


def test_errors():
    target, pred = regression_tensors(n=5)
    with pytest.raises(ValueError, match="meta"):
        flt.mse(target, torch.zeros(5, device="meta", dtype=torch.float64))
    with pytest.raises(ValueError, match="meta"):
        flt.mse(torch.zeros(5, device="meta"), pred)
    with pytest.raises(ValueError, match="y_true requires grad"):
        flt.mse(target.clone().requires_grad_(), pred)
    with pytest.raises(ValueError, match="sample_weight requires grad"):
        flt.mse(target, pred, sample_weight=torch.ones(5, dtype=torch.float64,
                                                       requires_grad=True))
    with pytest.raises(TypeError, match="float32 or float64"):
        flt.mse(target, pred.detach().to(torch.bfloat16))
    with pytest.raises(TypeError, match="torch.Tensor"):
        flt.mse(target, np.zeros(5))
    with pytest.raises(ValueError, match="same shape"):
        flt.mse(target[:4], pred)
    with pytest.raises(ValueError, match="reduction"):
        flt.mse(target, pred, reduction="max")
    with pytest.raises(TypeError, match="unexpected parameter"):
        flt.LossModule("mse", delta=1.0)
    with pytest.raises(AttributeError):
        flt.no_such_loss


def test_every_registered_loss_has_a_function():
    for name in fl.available():
        function = getattr(flt, name)
        assert function.__name__ == name
    assert set(fl.available()) <= set(dir(flt))


# ------------------------------------------------------------------------------ classification

@needs("binary_cross_entropy_with_logits")
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits_matches_torch(reduction):
    g = torch.Generator().manual_seed(1)
    logits = (3 * torch.randn(41, generator=g, dtype=torch.float64)).requires_grad_()
    target = (torch.rand(41, generator=g, dtype=torch.float64) > 0.5).to(torch.float64)
    weight = torch.rand(41, generator=g, dtype=torch.float64)
    ours = flt.binary_cross_entropy_with_logits(target, logits, sample_weight=weight,
                                                reduction=reduction)
    ref_logits = logits.detach().clone().requires_grad_()
    expected = F.binary_cross_entropy_with_logits(ref_logits, target, weight=weight,
                                                  reduction="none")
    if reduction == "mean":
        expected = expected.sum() / weight.sum()       # fastloss's weighted mean
    elif reduction == "sum":
        expected = expected.sum()
    torch.testing.assert_close(ours, expected.detach(), rtol=1e-12, atol=1e-14)
    ours.sum().backward()
    expected.sum().backward()
    torch.testing.assert_close(logits.grad, ref_logits.grad, rtol=1e-12, atol=1e-14)
    assert torch.autograd.gradcheck(
        lambda z: flt.binary_cross_entropy_with_logits(target[:9], z, reduction=reduction),
        (logits.detach()[:9].clone().requires_grad_(),), eps=1e-6, atol=1e-8)


@needs("binary_cross_entropy")
def test_binary_cross_entropy_from_probabilities_matches_torch():
    g = torch.Generator().manual_seed(2)
    prob = torch.rand(30, generator=g, dtype=torch.float64).clamp(0.05, 0.95).requires_grad_()
    target = torch.rand(30, generator=g, dtype=torch.float64)       # soft targets
    ours = flt.binary_cross_entropy(target, prob)
    ref = prob.detach().clone().requires_grad_()
    expected = F.binary_cross_entropy(ref, target)
    torch.testing.assert_close(ours, expected.detach(), rtol=1e-12, atol=0)
    ours.backward()
    expected.backward()
    torch.testing.assert_close(prob.grad, ref.grad, rtol=1e-10, atol=1e-12)


@needs("cross_entropy")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_matches_torch(reduction, dtype):
    g = torch.Generator().manual_seed(3)
    logits = (2 * torch.randn(23, 7, generator=g, dtype=dtype)).requires_grad_()
    labels = torch.randint(0, 7, (23,), generator=g)
    ours = flt.cross_entropy(labels, logits, reduction=reduction)
    ref = logits.detach().clone().requires_grad_()
    expected = F.cross_entropy(ref, labels, reduction=reduction)
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == torch.float32 else {"rtol": 1e-12, "atol": 0}
    assert ours.shape == expected.shape and ours.dtype == dtype
    torch.testing.assert_close(ours, expected.detach(), **tol)
    upstream = torch.linspace(0.5, 1.5, ours.numel(), dtype=dtype).reshape(ours.shape)
    (ours * upstream).sum().backward()       # "none": per-row upstream over (N, K) gradient
    (expected * upstream).sum().backward()
    torch.testing.assert_close(logits.grad, ref.grad, **tol)


@needs("cross_entropy")
def test_cross_entropy_gradcheck_and_module():
    g = torch.Generator().manual_seed(4)
    logits = torch.randn(6, 4, generator=g, dtype=torch.float64).requires_grad_()
    labels = torch.tensor([0, 3, 1, 1, 2, 0])
    weight = torch.tensor([1.0, 0.5, 2.0, 1.0, 0.0, 3.0], dtype=torch.float64)
    for reduction in ("mean", "sum", "none"):
        assert torch.autograd.gradcheck(
            lambda z: flt.cross_entropy(labels, z, sample_weight=weight, reduction=reduction),
            (logits,), eps=1e-6, atol=1e-8)
    criterion = flt.LossModule("cross_entropy")
    value = criterion(labels, logits)
    torch.testing.assert_close(value, F.cross_entropy(logits, labels).detach(), rtol=1e-12,
                               atol=0)
    with pytest.raises(ValueError, match="meta"):
        criterion(labels, torch.zeros(6, 4, device="meta", dtype=torch.float64))


@needs("focal")
def test_focal_matches_a_torch_formula():
    g = torch.Generator().manual_seed(5)
    logits = (3 * torch.randn(33, generator=g, dtype=torch.float64)).requires_grad_()
    target = (torch.rand(33, generator=g) > 0.7).to(torch.float64)
    ours = flt.focal(target, logits, gamma=2.0, alpha=0.25)
    ref = logits.detach().clone().requires_grad_()
    # torchvision.ops.sigmoid_focal_loss, written out (torchvision is not a dependency).
    p = torch.sigmoid(ref)
    ce = F.binary_cross_entropy_with_logits(ref, target, reduction="none")
    p_t = p * target + (1 - p) * (1 - target)
    expected = (ce * (1 - p_t) ** 2 * (0.25 * target + 0.75 * (1 - target))).mean()
    torch.testing.assert_close(ours, expected.detach(), rtol=1e-10, atol=0)
    ours.backward()
    expected.backward()
    torch.testing.assert_close(logits.grad, ref.grad, rtol=1e-8, atol=1e-14)


def test_the_real_torch_is_imported():
    from pathlib import Path
    assert flt.torch is torch and Path(torch.__file__).parent.name == "torch"
