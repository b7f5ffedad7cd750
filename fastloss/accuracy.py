"""Accuracy of every loss against a 50-digit mpmath oracle, in ulp, at hard points.

``fastloss accuracy`` prints the worst error per loss; ``tests/test_accuracy.py`` asserts the
stated bound per loss. Three tables drive both (a family adds its rows next to its own):

- ``ORACLES``: loss name -> ``Oracle(value, grad, hess)``, mpmath functions of ONE sample and the
  loss parameters: ``value(y, p, **params)`` -> mpf. For elementwise losses y and p are mpf; for
  a row-wise loss p is a list of mpf (one row) and ``grad``/``hess`` return lists. ``hess`` may
  be None (no second derivative checked). The formulas follow the documented conventions
  (subgradients at kinks, limits at infinities), written as plainly as possible.
- ``POINTS``: loss name -> list of ``HardPoint(y_true, y_pred, params)``: where the kernels are
  most likely to lose digits (formula switches, cancellation, overflow, underflow, infinities).
  The grids ``RESIDUALS``, ``LOGITS`` and ``PROBABILITIES`` are the raw material.
- ``BOUNDS``: loss name -> {"f8": ulp, "f4": ulp}, the worst error the test accepts.

Errors are |kernel - exact| / ulp(exact rounded to the output dtype); the kernel sees the input
values after rounding to the dtype, and the oracle sees exactly those values. An exact result of
+-inf or NaN must be matched exactly (else the error is inf).
"""

import math
from collections import namedtuple

import numpy as np

Oracle = namedtuple("Oracle", "value grad hess", defaults=(None,))
HardPoint = namedtuple("HardPoint", "y_true y_pred params", defaults=({},))

DIGITS = 50
DTYPES = {"f8": np.dtype(np.float64), "f4": np.dtype(np.float32)}
DEFAULT_BOUND = {"f8": 4.0, "f4": 1.0}

ORACLES = {}
POINTS = {}
BOUNDS = {}


def add(name, oracle, points, bound=None):
    """Register the oracle, the hard points and (optionally) the ulp bounds of one loss."""
    ORACLES[name] = oracle
    POINTS.setdefault(name, []).extend(points)
    if bound is not None:
        BOUNDS[name] = dict(DEFAULT_BOUND, **bound)


def _signed(values):
    return sorted({s * v for v in values for s in (1.0, -1.0)})


# The grids of the issue: residuals across zero and far out, logits to the overflow limits and
# beyond, probabilities at and next to the edges of [0, 1].
RESIDUALS = _signed([0.0, 1e-300, 1e-16, 1e-8, 1e-3, 0.5, 0.999999, 1.0, 1.000001, 20.0, 37.0,
                     710.0, 1e4, math.inf])
LOGITS = _signed([0.0, 1e-300, 1e-8, 1.0, 20.0, 37.0, 710.0, 1e4, math.inf])
PROBABILITIES = [0.0, 1e-300, 1e-16, 0.5, 1.0 - 1e-16, 1.0]
TARGETS = [0.0, 1.5, -3.0]   # residuals are put on several targets: p = y + r, rounded


def residual_points(residuals=RESIDUALS, params=({},), targets=TARGETS):
    """Hard points (y, y + r) of an elementwise regression loss, for each parameter set."""
    return [HardPoint(y, y + r, dict(pr)) for pr in params for y in targets for r in residuals]


def _near(x):
    """x and its neighbours: the float before, x, the float after, and x (1 -+ 1e-8)."""
    return [x * (1 - 1e-8), float(np.nextafter(x, 0.0)), x, float(np.nextafter(x, math.inf)),
            x * (1 + 1e-8)]


# ------------------------------------------------------------------------------ regression

def _mp():
    import mpmath
    return mpmath


def _sign(x):
    return (x > 0) - (x < 0) if x == x else x


def _huber(y, p, delta):
    r = p - y
    return r * r / 2 if abs(r) <= delta else delta * (abs(r) - delta / 2)


def _huber_grad(y, p, delta):
    r = p - y
    return r if abs(r) <= delta else delta * _sign(r)


def _quantile(y, p, alpha):
    r = y - p
    return alpha * r if r >= 0 else (alpha - 1) * r


def _quantile_grad(y, p, alpha):
    r = y - p
    if r != r:
        return r
    return -alpha if r > 0 else (1 - alpha if r < 0 else 0.5 - alpha)


def _zero_hess(y, p, **params):
    r = p - y
    return r if r != r else 0   # 0 everywhere, also at infinite residuals; NaN for NaN


def _log_cosh(y, p):
    m = _mp()
    r = p - y
    return abs(r) if m.isinf(r) else m.log(m.cosh(r))


def _log_cosh_hess(y, p):
    m = _mp()
    r = p - y
    return m.mpf(0) if m.isinf(r) else 1 / m.cosh(r) ** 2


_DELTAS = (1.0, 0.1, 3.0)
_ALPHAS = (0.5, 0.1, 0.9)

add("mse", Oracle(lambda y, p: (p - y) ** 2, lambda y, p: 2 * (p - y),
                  lambda y, p: 2 if p - y == p - y else p - y),
    residual_points(), bound={"f8": 1.0})
add("mae", Oracle(lambda y, p: abs(p - y), lambda y, p: _sign(p - y), _zero_hess),
    residual_points(), bound={"f8": 1.0})
add("huber", Oracle(_huber, _huber_grad,
                    lambda y, p, delta: (1 if abs(p - y) <= delta else 0) if p - y == p - y
                    else p - y),
    residual_points(params=[{"delta": d} for d in _DELTAS])
    + [HardPoint(y, y + s * r, {"delta": d}) for d in _DELTAS for y in TARGETS
       for r in _near(d) for s in (1.0, -1.0)], bound={"f8": 1.0})
add("quantile", Oracle(_quantile, _quantile_grad, _zero_hess),
    residual_points(params=[{"alpha": a} for a in _ALPHAS]), bound={"f8": 1.0})
add("log_cosh", Oracle(_log_cosh, lambda y, p: _mp().tanh(p - y), _log_cosh_hess),
    residual_points() + [HardPoint(0.0, x) for x in _signed(_near(1.0))], bound={"f8": 3.0})

# Binary classification from logits, the convention of issue 3 (softplus form, gradient
# sigmoid(z) - y, Hessian sigmoid(z)(1 - sigmoid(z))). Used once the loss is registered.


def _softplus(z):
    m = _mp()
    if m.isinf(z):
        return z if z > 0 else m.mpf(0)
    return m.log1p(m.exp(z))


def _sigmoid(z):
    m = _mp()
    if m.isinf(z):
        return m.mpf(1) if z > 0 else m.mpf(0)
    return 1 / (1 + m.exp(-z))


def _bce_logits(y, z):
    m = _mp()
    # y softplus(-z) + (1 - y) softplus(z); a zero coefficient times an infinite softplus is 0.
    a = y * _softplus(-z) if y != 0 else m.mpf(0)
    b = (1 - y) * _softplus(z) if y != 1 else m.mpf(0)
    return a + b


def _soft_near_zero(y, z):
    return y == 0.5 and 0 < abs(z) <= 1e-8


add("binary_cross_entropy_with_logits",
    # sigmoid(z) - y as -y sigmoid(-z) + (1 - y) sigmoid(z): 1 - sigmoid(710) cancels to 0 even
    # at 50 digits (the exact value is -exp(-710))
    Oracle(_bce_logits, lambda y, z: -y * _sigmoid(-z) + (1 - y) * _sigmoid(z),
           lambda y, z: _sigmoid(z) * _sigmoid(-z)),
    [HardPoint(y, z) for y in (0.0, 1.0, 0.5) for z in LOGITS
     if not _soft_near_zero(y, z)])
# KNOWN LIMIT (left out of the asserted grid above, listed here): for a soft target y = 0.5
# and 0 < |z| <= 1e-8 the gradient -y sigmoid(-z) + (1 - y) sigmoid(z) cancels: absolute error
# ~1e-17 against an exact ~z/4: ~4e7 ulp at |z| = 1e-8. (At |z| = 1e-300 the kernel returns 0
# against an exact 2.5e-301, 2^52 ulp; the 50-digit oracle here resolves neither sigmoid(1e-300)
# from 1/2 nor this error, the 400-digit check in tests/test_accuracy.py does.)
# Hard labels are exact. Same in focal below (at y = 1/2 its gradient is alpha_t m (s - y)).
#
# Analysis. At the point sigmoid(z) = y (here y = 1/2, z -> 0) the gradient g(z, y) =
# sigmoid(z) - y has relative condition numbers
#   kappa_z = |z sigmoid'(z) / g| = |z s (1 - s)| / |s - y|  -> 1     (z/4 over z/4),
#   kappa_y = |y / g|                                        -> 2/|z| (2e8 at |z| = 1e-8,
#                                                                      2e300 at 1e-300).
# The problem is well conditioned in z and ill conditioned in y. The kernel's result is
# g_hat = (1 - y) sigmoid(z)(1 + d1) - y sigmoid(-z)(1 + d2), |d1|, |d2| <~ 2 eps: an absolute
# error <~ eps/2 (1 ulp of 1/2). It is BACKWARD STABLE IN y: g_hat = sigmoid(z) - y' exactly
# with y' = sigmoid(z) - g_hat, |y' - y| = |g_hat - g| <= ~1 ulp(y) (and focal's likewise, y'
# found by Newton on the exact gradient) -- tests/test_accuracy.py checks both with mpmath.
# It is NOT backward stable in z alone: the z' with g(z', y) = g_hat is ~|g_hat - g| / (1/4)
# away from z: measured 3.7e7 ulp of z at |z| = 1e-8 (y' 0.14 ulp from y) and 6e15 ulp at
# |z| = 1e-300 (the kernel returns 0 = g(0, y); y' 2e-285 ulp from y), for both losses.
# So the forward error, kappa_y * ~1 ulp, is what any kernel computing sigmoid(z) and
# subtracting y in double has; only a formulation exact in the
# difference (sigmoid(z) - 1/2 = tanh(z/2)/2 at y = 1/2, or a double-double s - y) removes it.
# A target given to 1 ulp carries the same uncertainty: the limit matters only when y is exact.
SOFT_TARGET_NEAR_ZERO = {"binary_cross_entropy_with_logits": [
    HardPoint(0.5, z) for z in LOGITS if _soft_near_zero(0.5, z)]}
# Other losses add rows here (or from their family's module) with add(name, Oracle(...), points).


# Derivatives by differentiating the value in mpmath, for losses whose closed forms are long
# (focal): the working precision grows with the logits so that tails like exp(-2 |z|) are not
# lost to cancellation. Derivatives at |z| > 800 are taken at +-800 (infinities included):
# beyond, they differ from their limits by a factor 1 + O(exp(-800)), far below any dtype's
# resolution (values are still computed at the point itself).
_FAR = 800.0


def _finite(z):
    m = _mp()
    return m.mpf(_FAR) * m.sign(z) if abs(z) > _FAR else z


def _extra_digits(*zs):
    m = _mp()
    return int(max((abs(float(z)) for z in zs if m.isfinite(z)), default=0.0) * 0.87) + 20


def _diff(f, z, order):
    m = _mp()
    z = _finite(z)
    with m.workdps(DIGITS + _extra_digits(z)):
        return +m.diff(f, z, order)


def _sign_label(y):
    """t in {-1, +1} of a single label: {-1, +1} as given, {0, 1} read as {-1, +1}."""
    return -1 if y == 0 else (1 if y > 0 else -1)


def _hinge(y, s, margin):
    t = _sign_label(y)
    r = margin - t * s
    return r if r > 0 else _mp().mpf(0)


def _hinge_grad(y, s, margin):
    t = _sign_label(y)
    r = margin - t * s
    return -t if r > 0 else (0 if r < 0 else -_mp().mpf(t) / 2)


def _squared_hinge_grad(y, s, margin):
    t = _sign_label(y)
    r = margin - t * s
    return -2 * t * r if r > 0 else 0


_SCORES = sorted(set(LOGITS) | {0.999999, 1.0, 1.000001, -1.0, 0.5, 2.0})
_MARGINS = (1.0, 0.0, 2.5)

add("hinge", Oracle(_hinge, _hinge_grad, lambda y, s, margin: 0),
    [HardPoint(y, s, {"margin": mg}) for mg in _MARGINS for y in (1.0, -1.0, 0.0)
     for s in _SCORES] + [HardPoint(1.0, s, {"margin": 3.0}) for s in _near(3.0)],
    bound={"f8": 1.0})
add("squared_hinge",
    Oracle(lambda y, s, margin: _hinge(y, s, margin) ** 2, _squared_hinge_grad,
           lambda y, s, margin: (lambda r: 2 if r > 0 else (0 if r < 0 else 1))(
               margin - _sign_label(y) * s)),
    [HardPoint(y, s, {"margin": mg}) for mg in _MARGINS for y in (1.0, -1.0, 0.0)
     for s in _SCORES] + [HardPoint(-1.0, s, {"margin": 3.0}) for s in _near(-3.0)],
    bound={"f8": 2.0})   # two roundings: the residual m - t s, then its square (1.1 observed)


def _upper(eps):
    """The clip's upper bound 1 - eps, rounded to float64 as the kernels hold it."""
    return _mp().mpf(1.0 - float(eps))


def _bce(y, p, eps):
    m = _mp()
    pc = min(max(p, eps), _upper(eps))
    a = y * m.log(pc) if y != 0 else 0
    b = (1 - y) * m.log(1 - pc) if y != 1 else 0
    return -(a + b)


def _bce_grad(y, p, eps):
    pc = min(max(p, eps), _upper(eps))
    return (pc - y) / (pc * (1 - pc))


def _bce_hess(y, p, eps):
    pc = min(max(p, eps), _upper(eps))
    return y / pc ** 2 + (1 - y) / (1 - pc) ** 2


# eps is explicit: the default (the prediction dtype's epsilon) is not a function of the
# values; 2**-52 and 2**-23 are the float64 and float32 defaults.
_EPSILONS = (2.0 ** -52, 2.0 ** -23, 1e-3)
add("binary_cross_entropy", Oracle(_bce, _bce_grad, _bce_hess),
    [HardPoint(y, p, {"eps": e}) for e in _EPSILONS for y in (0.0, 1.0, 0.3)
     for p in PROBABILITIES + [0.25, 0.9]]
    + [HardPoint(1.0, p, {"eps": 1e-3}) for p in _near(1e-3)])


def _focal(y, z, gamma, alpha):
    m = _mp()
    if m.isinf(z):    # the limit: the loss grows linearly in |z| (-> inf) or tends to a limit
        with m.workdps(DIGITS + 2 * _extra_digits(2 * _FAR)):
            near, far = (_focal(y, m.sign(z) * x, gamma, alpha) for x in (_FAR, 2 * _FAR))
            return m.inf if far - near > 1 else +far
    sig = _sigmoid(z)
    p_t = y * sig + (1 - y) * (1 - sig)
    # 1 - p_t without cancellation: y (1 - sigmoid(z)) + (1 - y) sigmoid(z)
    q = y * _sigmoid(-z) + (1 - y) * sig
    a_t = 1 if alpha < 0 else alpha * y + (1 - alpha) * (1 - y)
    bce = _bce_logits(y, z)
    return a_t * bce * (q ** gamma if q != 0 or gamma != 0 else 1) + 0 * p_t


def _focal_grad(y, z, gamma, alpha):
    return _diff(lambda t: _focal(y, t, gamma, alpha), z, 1)


def _focal_hess(y, z, gamma, alpha):
    return _diff(lambda t: _focal(y, t, gamma, alpha), z, 2)


def _focal_hess_floored(y, z, gamma, alpha):
    return max(_focal_hess(y, z, gamma, alpha), 0)   # grad_hess floors at hess_floor = 0


# KNOWN LIMIT: the soft-target points near z = 0, as for binary_cross_entropy_with_logits.
SOFT_TARGET_NEAR_ZERO["focal"] = [HardPoint(0.5, z, {"gamma": 2.0, "alpha": 0.25})
                                  for z in LOGITS if _soft_near_zero(0.5, z)]
add("focal", Oracle(_focal, _focal_grad, _focal_hess_floored),
    [HardPoint(y, z, {"gamma": g, "alpha": a}) for g, a in ((2.0, 0.25), (0.0, -1.0), (1.0, 0.5))
     for y in (0.0, 1.0, 0.5) for z in LOGITS if not _soft_near_zero(y, z)],
    bound={"f8": 8.0})


# ------------------------------------------------------------------------------ multiclass
# One row per point: y_true a label (int) or a row of target probabilities, y_pred a row.


def _lse(z):
    m = _mp()
    top = max(z)
    if m.isinf(top):
        return top
    return top + m.log(m.fsum(m.exp(v - top) for v in z))


def _softmax_parts(label, z):
    """(p, q = 1 - p_y summed from the other classes, log p_y) without cancellation."""
    m = _mp()
    lse = _lse(z)
    p = [m.exp(v - lse) for v in z]
    q = m.fsum(p[j] for j in range(len(z)) if j != label)
    return p, q, z[label] - lse


def _ce(label, z):
    return -_softmax_parts(int(label), z)[2]


def _ce_grad(label, z):
    label = int(label)
    p, q, _ = _softmax_parts(label, z)
    return [q * -1 if j == label else p[j] for j in range(len(z))]


def _ce_hess(label, z):
    label = int(label)
    p, _, _ = _softmax_parts(label, z)
    m = _mp()
    # 1 - p_j summed from the other classes (1 - p_j itself cancels at 50 digits)
    return [p[j] * m.fsum(p[k] for k in range(len(z)) if k != j) for j in range(len(z))]


def _row_diff(f, z, order):
    """Partial derivatives of f(row) in each coordinate, at a precision fitting the logits."""
    m = _mp()
    out = []
    z = [_finite(v) for v in z]
    with m.workdps(DIGITS + 2 * _extra_digits(*z)):
        for j in range(len(z)):
            def along(t, j=j):
                return f([t if k == j else v for k, v in enumerate(z)])
            out.append(+m.diff(along, z[j], order))
    return out


def _softmax_focal(label, z, gamma):
    _, q, log_py = _softmax_parts(int(label), z)
    return -(q ** gamma) * log_py if gamma != 0 else -log_py


_HARD_ROWS = [  # (label, logits): saturated, tied, tiny, overflow-sized and mixed rows
    (0, [0.0, 0.0]), (1, [1e-300, -1e-300]), (0, [1e-8, 0.0, -1e-8]), (0, [20.0, -20.0]),
    (1, [20.0, -20.0]), (0, [37.0, 0.0, 0.0]), (2, [37.0, 0.0, 0.0]), (0, [710.0, -710.0]),
    (1, [710.0, 0.0, -710.0, 1.0]), (0, [1e4, -1e4]), (1, [1e4, -1e4]),
    (3, [-1e4, 0.5, 1e4, 1e4]), (2, [1.0, 2.0, 3.0, 4.0]), (0, [-20.0, 0.0, 1e-8, 20.0]),
    (0, [0.0, -math.inf]), (1, [-1e4, 0.0, -math.inf])]

# Observed 5.05 ulp (grad, f8) at [-20, 0, 1e-8, 20]: p_j = exp(z_j - lse) rounds twice.
add("cross_entropy", Oracle(_ce, _ce_grad, _ce_hess),
    [HardPoint(y, z) for y, z in _HARD_ROWS], bound={"f8": 6.0})
add("softmax_focal",
    Oracle(_softmax_focal,
           lambda y, z, gamma: _row_diff(lambda r: _softmax_focal(y, r, gamma), z, 1),
           lambda y, z, gamma: [max(h, 0) for h in     # grad_hess floors at 0
                                _row_diff(lambda r: _softmax_focal(y, r, gamma), z, 2)]),
    [HardPoint(y, z, {"gamma": g}) for g in (2.0, 0.5) for y, z in _HARD_ROWS
     if all(math.isfinite(v) for v in z)], bound={"f8": 6.0})   # observed 5.4 (grad)


def _mc_hinge_margins(label, s, margin):
    y = int(label)
    return y, [margin - s[y] + s[j] for j in range(len(s))]


def _mc_hinge(label, s, margin):
    y, v = _mc_hinge_margins(label, s, margin)
    return _mp().fsum(max(v[j], 0) for j in range(len(s)) if j != y)


def _mc_hinge_grad(label, s, margin):
    y, v = _mc_hinge_margins(label, s, margin)
    g = [(1 if v[j] > 0 else 0) if j != y else 0 for j in range(len(s))]
    g[y] = -sum(g)
    return g


add("multiclass_hinge",
    Oracle(_mc_hinge, _mc_hinge_grad, lambda label, s, margin: [0] * len(s)),
    [HardPoint(y, z, {"margin": mg}) for mg in (1.0, 0.0, 2.5) for y, z in _HARD_ROWS
     if all(math.isfinite(v) for v in z)]
    + [HardPoint(0, [1.0, x, -1.0], {"margin": 1.0}) for x in _near(0.0) + _near(1e-8)],
    bound={"f8": 2.0})   # each margin rounds, then their sum (1.18 observed)


def _cce_clip(q, eps):
    return min(max(q, eps), _upper(eps))


def _cce(label, q, eps):
    return -_mp().log(_cce_clip(q[int(label)], eps))


def _cce_grad(label, q, eps):
    y = int(label)
    return [(-1 / q[j] if eps <= q[j] <= _upper(eps) else 0) if j == y else 0 for j in range(len(q))]


def _cce_hess(label, q, eps):
    y = int(label)
    return [(1 / q[j] ** 2 if eps <= q[j] <= _upper(eps) else 0) if j == y else 0
            for j in range(len(q))]


_PROBABILITY_ROWS = [(0, [0.5, 0.5]), (0, [0.0, 1.0]), (1, [0.0, 1.0]), (0, [1e-300, 1.0]),
                     (1, [1e-16, 1.0 - 1e-16]), (0, [1e-16, 1.0 - 1e-16]), (2, [0.2, 0.3, 0.5]),
                     (0, [1.0, 0.0, 0.0]), (1, [0.25, 1e-300, 0.5, 0.25]),
                     (3, [0.1, 0.2, 0.3, 0.4])]
add("categorical_cross_entropy", Oracle(_cce, _cce_grad, _cce_hess),
    [HardPoint(y, q, {"eps": e}) for e in _EPSILONS for y, q in _PROBABILITY_ROWS])


def _kl(p, q):
    m = _mp()
    return m.fsum(pk * (m.log(pk) - m.log(qk)) if pk != 0 else 0 for pk, qk in zip(p, q))


def _kl_grad(p, q):
    m = _mp()
    return [(-pk / qk if qk != 0 else -m.inf) if pk != 0 else 0 for pk, qk in zip(p, q)]


def _kl_hess(p, q):
    m = _mp()
    return [(pk / qk ** 2 if qk != 0 else m.inf) if pk != 0 else 0 for pk, qk in zip(p, q)]


_TARGET_ROWS = [[0.5, 0.5], [1.0, 0.0], [0.0, 1.0], [1e-300, 1.0], [1e-16, 1.0 - 1e-16],
                [0.25, 0.25, 0.5], [0.1, 0.2, 0.3, 0.4]]
# Observed (f8): value 2.1 ulp (q phi at p/q = 1.5, ~3 ulp worst for that part), <= 1.1 on
# the grid, gradient 0.5, Hessian 1.0 ((p / q) / q, two roundings).
# The value was 21 ulp at p = [0.25, 0.25, 0.5], q = [0.2, 0.3, 0.5] and 31 ulp at p = [.3, .7],
# q = [.31, .69] while the kernel summed p_k (log p_k - log q_k): each log carries
# ulp(log p_k), and the terms' first-order parts p_k - q_k cancel (the divergence is second
# order in q - p). It now splits a term with 1/2 <= p/q <= 2 into the exact p - q and a
# nonnegative q phi(p/q), phi(r) = r log r - r + 1, takes p log(p/q) elsewhere, and sums the
# row with compensation (see _kernels/_multiclass.pyx). 400 random rows (K 1-11, q = p with
# relative noise 1e-8 to 3, renormalised, some p_k = 0) measured <= 2.6 ulp (down to
# divergences of 4e-16; the old kernel lost ~eps / delta^2 there). Left: rows whose exact
# sum(p - q) itself cancels against sum(q phi) (unnormalised rounding, divergence ~1e-20): a
# relative change eps of one q_k moves the divergence by p_k eps, the problem's conditioning.
add("kl_divergence", Oracle(_kl, _kl_grad, _kl_hess),
    [HardPoint(t, q) for t in _TARGET_ROWS for _, q in _PROBABILITY_ROWS if len(q) == len(t)]
    + [HardPoint([0.3, 0.7], [0.31, 0.69]), HardPoint([1e-300, 0.5, 0.5], [1e-299, 0.25, 0.75]),
       HardPoint([0.1] * 10, [0.09, 0.11] * 5), HardPoint([0.5, 0.5], [0.5 + 1e-9, 0.5 - 1e-9]),
       HardPoint([0.2, 0.3, 0.5], [0.1, 0.6, 0.3]), HardPoint([0.5, 0.5], [1.0 / 3, 2.0 / 3])],
    bound={"f8": 3.0})


# ------------------------------------------------------------------------------ metric
# Losses of several embedding rows (triplet_margin, contrastive): a point's y_true is the tuple
# of one row of each input (the embeddings as lists, contrastive's pair label as a float) and
# y_pred is None; ``value(*inputs, **params)`` -> mpf and ``grad(*inputs, **params)`` -> one list
# per embedding. An oracle returns None where it is not checked: within a relative 1e-6 of the
# margin's kink, where the hinge's argument d_ap - d_an + margin (triplet: value and gradient;
# a positive value there, an inactive triplet's 0 is checked) or the factor margin - d
# (contrastive's gradient) cancels: their relative conditioning is (sum of the terms) /
# |argument|, so a few-ulp distance gives an error of that many ulp times the conditioning,
# whatever the formulation (e.g. cosine distances 1 - 3e-295 and 1 - 2e-294 with margin 0:
# the exact loss 1.4e-294, the kernel's 0).


def _pdist(x, y, p, eps):
    """||x - y + eps||_p, exactly (PyTorch's pairwise_distance)."""
    m = _mp()
    v = [a - b + eps for a, b in zip(x, y)]
    if any(m.isinf(t) for t in v):
        return m.inf, v
    nonzero = [abs(t) for t in v if t != 0]
    if p == 1 or len(nonzero) <= 1:    # exact (a p-th root would round |t| to 1 - 1e-50)
        return m.fsum(nonzero), v
    return m.fsum(t ** p for t in nonzero) ** (1 / p), v


def _pdist_partial(v, dist, p):
    """d ||v||_p / d v (a list); 0 at a zero distance (the kernels' subgradient)."""
    m = _mp()
    if p == 1:
        return [m.sign(t) for t in v]
    if dist == 0:
        return [m.mpf(0)] * len(v)
    return [m.sign(t) * (abs(t) / dist) ** (p - 1) for t in v]


def _cos_dist(x, y, eps):
    """(1 - x.y / (max(|x|, eps) max(|y|, eps)), d/dx, d/dy), exactly.

    Above eps, in the forms that are exactly 0 for parallel vectors (Lagrange's identity
    |x|^2 |y|^2 - (x.y)^2 = |x|^2 |w|^2 - (x.w)^2 with w = x - y, and the gradient as the part
    of w across x); 1 - cos would leave a 1e-50 residue there, infinitely many ulp of 0.
    The sums run at enough digits to be exact (w = x - y too, whatever the magnitudes)."""
    m = _mp()
    sizes = [abs(t) for t in list(x) + list(y) if t != 0 and m.isfinite(t)]
    spread = int(m.log10(max(sizes) / min(sizes))) if sizes else 0   # digits for exact sums
    with m.workdps(2 * DIGITS + 2 * spread):
        xx, yy = m.fsum(t * t for t in x), m.fsum(t * t for t in y)
        xy = m.fsum(a * b for a, b in zip(x, y))
        nx0, ny0 = m.sqrt(xx), m.sqrt(yy)
        nx, ny = max(nx0, eps), max(ny0, eps)
        cxy = xy / (nx * ny)
        if nx0 > eps and ny0 > eps and not m.isinf(xx * yy):
            w = [a - b for a, b in zip(x, y)]
            xw = m.fsum(a * b for a, b in zip(x, w))
            yw = m.fsum(a * b for a, b in zip(y, w))
            ww = m.fsum(t * t for t in w)
            nxy = nx * ny
            dist = (xx * ww - xw * xw) / (nxy * (nxy + xy)) if xy > 0 else 1 - cxy
            gx = [(t - xw / xx * a) / nxy for t, a in zip(w, x)]
            gy = [-(t - yw / yy * b) / nxy for t, b in zip(w, y)]
            return +dist, [+t for t in gx], [+t for t in gy]
        rx = 1 / nx ** 2 if nx0 > eps else 0     # below eps the norm is the constant eps
        ry = 1 / ny ** 2 if ny0 > eps else 0
        gx = [cxy * rx * a - b / (nx * ny) for a, b in zip(x, y)]
        gy = [cxy * ry * b - a / (nx * ny) for a, b in zip(x, y)]
        return +(1 - cxy), [+t for t in gx], [+t for t in gy]


def _triplet_parts(a, pos, neg, margin, p, swap, eps, distance):
    """(z, d_ap, d_neg, grads of d_ap (a, pos), grads of d_neg (first, second), swapped)."""
    if distance == "cosine":
        d_ap, g_a, g_p = _cos_dist(a, pos, eps)
        d_an, g_an_a, g_an_n = _cos_dist(a, neg, eps)
        d_pn, g_pn_p, g_pn_n = _cos_dist(pos, neg, eps) if swap else (None, None, None)
    else:
        d_ap, v = _pdist(a, pos, p, eps)
        g_a = _pdist_partial(v, d_ap, p)
        g_p = [-t for t in g_a]
        d_an, v = _pdist(a, neg, p, eps)
        g_an_a = _pdist_partial(v, d_an, p)
        g_an_n = [-t for t in g_an_a]
        d_pn = g_pn_p = g_pn_n = None
        if swap:
            d_pn, v = _pdist(pos, neg, p, eps)
            g_pn_p = _pdist_partial(v, d_pn, p)
            g_pn_n = [-t for t in g_pn_p]
    swapped = swap and d_pn < d_an
    if swapped:
        return d_ap - d_pn + margin, d_ap, d_pn, (g_a, g_p), (g_pn_p, g_pn_n), True
    return d_ap - d_an + margin, d_ap, d_an, (g_a, g_p), (g_an_a, g_an_n), False


def _triplet(inputs, margin, p, swap, eps, distance):
    z, d_ap, d_neg = _triplet_parts(*inputs, margin, p, swap, eps, distance)[:3]
    if z > 0 and _near_kink(z, d_ap, d_neg, margin):
        return None
    return z if z > 0 else _mp().mpf(0)


def _near_kink(z, *terms):
    return abs(z) <= 1e-6 * _mp().fsum(abs(t) for t in terms)


def _triplet_grad(inputs, margin, p, swap, eps, distance):
    z, d_ap, d_neg, (g_a, g_p), (g_n1, g_n2), swapped = _triplet_parts(
        *inputs, margin, p, swap, eps, distance)
    if _near_kink(z, d_ap, d_neg, margin):
        return None
    zero = [_mp().mpf(0)] * len(g_a)
    if z < 0:
        return [zero, zero, zero]
    if swapped:     # d(p, n) replaces d(a, n)
        return [g_a, [u - t for u, t in zip(g_p, g_n1)], [-t for t in g_n2]]
    return [[u - t for u, t in zip(g_a, g_n1)], g_p, [-t for t in g_n2]]


def _contrastive_parts(x1, x2, margin):
    m = _mp()
    sq = m.fsum((a - b) ** 2 for a, b in zip(x1, x2))
    d = m.sqrt(sq)
    return sq, d, max(margin - d, 0)


def _contrastive(inputs, margin):
    x1, x2, y = inputs
    sq, d, gap = _contrastive_parts(x1, x2, margin)
    return (y * sq + (1 - y) * gap ** 2) / 2


def _contrastive_grad(inputs, margin):
    x1, x2, y = inputs
    sq, d, gap = _contrastive_parts(x1, x2, margin)
    if y != 1 and _near_kink(margin - d, margin, d):
        return None
    k = y - ((1 - y) * gap / d if d > 0 else 0)
    g1 = [k * (a - b) for a, b in zip(x1, x2)]
    return [g1, [-t for t in g1]]


def _metric(fn):
    """An oracle function of (inputs, **params) as Oracle holds it: fn(*inputs, **params)."""
    return lambda *inputs, **params: fn(inputs, **params)


def _triplet_point(a, pos, neg, **params):
    full = dict(margin=1.0, p=2.0, swap=False, eps=1e-6, distance="pnorm")
    full.update(params)
    return HardPoint((a, pos, neg), None, full)


_TINY, _HUGE = 1e-300, 1e300
_ROW = [1.0, -2.0, 0.5]
_TRIPLETS = [   # (anchor, positive, negative): d_an = 0 (n = a, eps = 0) isolates d(a, p)
    (_ROW, [0.0, 0.0, 0.0], _ROW), ([0.3, 0.4, 0.0], [0.0, 0.0, 0.0], [2.0, 2.0, 1.0]),
    ([_TINY, 2 * _TINY, 0.0], [0.0, 0.0, 3 * _TINY], [_TINY, 2 * _TINY, 0.0]),
    ([1e-160, 0.0], [0.0, 2e-160], [1e-160, 0.0]),
    ([_HUGE, -_HUGE, 0.0], [-_HUGE, 2 * _HUGE, 0.0], [_HUGE, -_HUGE, 0.0]),
    ([1e155, 1e155], [-1e155, 0.0], [1e155, 1e155]),
    ([1e30, 3.0], [1e30, 2.0], [1e30, 3.0]),                 # near-identical: 1 apart at 1e30
    ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0 + 2 ** -40], [1.0, 2.0, 3.0]),
    ([1.0, 2.0, 3.0], [1.5, 2.5, -1.0], [4.0, -3.0, 2.0]),   # a plain triplet, all distances
    ([0.0], [5.0], [1.0]), ([2.0], [1e-8], [-7.0])]          # D = 1
_COSINE_TRIPLETS = [
    ([1.0, 2.0, 3.0], [1.5, 2.5, -1.0], [4.0, -3.0, 2.0]),
    ([1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]),                   # orthogonal, opposite
    ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0 + 1e-8], [3.0, 2.0, 1.0]),   # near-identical a, p
    ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0 + 1e-4], [-3.0, 2.0, 1.0]),
    ([1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, -2.0, 3.0]),    # parallel: distance exactly 0
    ([_TINY, 2 * _TINY], [3.0, -1.0], [-1.0, 5.0]),          # below eps: the clamped norm
    ([1e-7, 2e-7], [3.0, -1.0], [-1.0, 5.0]),
    ([_HUGE, 2 * _HUGE], [-_HUGE, 3 * _HUGE], [_HUGE, -_HUGE]),
    ([1e-160, 3e-160], [2e-160, -1e-160], [1e-160, 1e-160]),
    ([3.0, 4.0], [1e200, 1e200], [-1e-200, 1e-200]),
    # small angles between vectors of different lengths (n = a: D(a, n) = 0)
    ([3.0, 4.0], [3e10, 4e10 + 1e6], [3.0, 4.0]),
    ([3.0, 4.0, 1.0], [6.0, 8.0001, 2.0], [3.0, 4.0, 1.0]),
    ([1.0, 2.0, 3.0], [1e-3, 2e-3, 3.0000001e-3], [1.0, 2.0, 3.0]),
    ([3.0, 4.0], [1e200, 1.0000001e200], [3.0, 4.0])]

# Observed (f8): p-norm <= 3 ulp (value and gradient, tiny/huge/near-identical rows included);
# cosine <= 2.4 ulp for the distances themselves (near-identical, parallel, small angles between
# vectors of very different lengths, tiny and huge norms); gradients <= 8.2 (a triplet's sums
# two distance gradients; with a norm clamped at eps the dot product a.p cancels), and
# 26 ulp for the value at a = [3, 4],
# p = [1e200, 1e200], n = [-1e-200, 1e-200], margin 1: z = d_ap - d_an + margin = 0.01 - 1 + 1,
# whose conditioning (d_ap + d_an + margin) / z ~ 200 turns the ~0.1 ulp of the distances into
# 26 (the kink neighbourhood, widened). f4: <= 0.5 ulp.
add("triplet_margin", Oracle(_metric(_triplet), _metric(_triplet_grad)),
    [_triplet_point(*t, eps=0.0, margin=mg, p=pw) for t in _TRIPLETS
     for mg in (0.0, 1.0) for pw in (2.0, 1.0, 3.0)]
    + [_triplet_point(*t, eps=1e-6, swap=sw) for t in _TRIPLETS[:2] + _TRIPLETS[8:]
       for sw in (False, True)]
    + [_triplet_point(*t, eps=1e-6, p=1.0, swap=True) for t in _TRIPLETS[8:]]
    + [_triplet_point(*t, distance="cosine", eps=e, swap=sw, margin=mg)
       for t in _COSINE_TRIPLETS for e in (1e-6, 1e-8) for sw in (False, True)
       for mg in (0.0, 1.0)], bound={"f8": 32.0})


def _pair(x1, x2, same, margin=1.0):
    return HardPoint((x1, x2, same), None, {"margin": margin})


_PAIRS = [([0.0, 0.0], [3.0, 4.0]), ([0.0, 0.0], [0.3, 0.4]), ([1.0, 2.0], [1.0, 2.0]),
          ([_TINY, 0.0], [0.0, 2 * _TINY]), ([1e-160, 0.0], [0.0, 1e-160]),
          ([_HUGE, 0.0], [0.0, -_HUGE]), ([1e155, 2e155], [-1e155, 0.0]),
          ([1e30, 3.0], [1e30, 2.0]), ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0 + 2 ** -40]),
          ([0.5], [0.7]), ([1.0, -1.0, 2.0], [0.25, 0.5, -0.75])]
add("contrastive", Oracle(_metric(_contrastive), _metric(_contrastive_grad)),
    [_pair(x1, x2, y, mg) for x1, x2 in _PAIRS for y in (1.0, 0.0, 0.25)
     for mg in (1.0, 0.0, 2.5)], bound={"f8": 3.0})   # observed 2.25: (margin - d)^2 / 4


# ------------------------------------------------------------------------------ measuring

def _to_mp(x):
    m = _mp()
    if np.ndim(x) == 0:
        return m.mpf(float(x))
    return [_to_mp(v) for v in x]


def ulp_error(got, exact, dtype):
    """|got - exact| in units of the last place of `exact` rounded to `dtype`."""
    m = _mp()
    got = float(got)
    if m.isnan(exact):
        return 0.0 if math.isnan(got) else math.inf
    if math.isnan(got):
        return math.inf
    if m.isinf(exact):
        return 0.0 if got == float(exact) else math.inf
    with np.errstate(over="ignore"):
        rounded = np.array(float(exact)).astype(dtype)
    if np.isinf(rounded):                        # exact beyond the dtype's range
        return 0.0 if got == float(rounded) else math.inf
    spacing = float(np.spacing(np.abs(rounded)))
    return float(abs(m.mpf(got) - exact) / spacing)


def _worst(got, exact, dtype):
    got, exact = np.ravel(got), exact if isinstance(exact, list) else [exact]
    return max((ulp_error(g, e, dtype) for g, e in zip(got, exact)), default=0.0)


def measure(name, dtypes=("f8", "f4")):
    """{dtype: {"value"|"grad"|"hess": (worst ulp, HardPoint)}} of one loss at its hard points."""
    import fastloss
    m = _mp()
    loss = fastloss.get(name)
    oracle = ORACLES[name]
    result = {}
    with m.workdps(DIGITS):
        for code in dtypes:
            dtype = DTYPES[code]
            worst = {}
            for point in POINTS[name]:
                params = {k: m.mpf(v) if isinstance(v, float) else v
                          for k, v in point.params.items()}
                if point.y_pred is None:       # several inputs (metric losses): one row each
                    outputs = _metric_outputs(loss, oracle, point, dtype)
                    if outputs is None:
                        continue
                    for what, (got, fn, args) in outputs.items():
                        exact = fn(*args, **params)
                        if exact is None:      # not checked here (next to a kink)
                            continue
                        err = max(_worst(g, e, dtype) for g, e in zip(got, exact)) \
                            if what == "grad" else _worst(got, exact, dtype)
                        if what not in worst or err > worst[what][0]:
                            worst[what] = (err, point)
                    continue
                with np.errstate(all="ignore"):
                    y = np.asarray(point.y_true)
                    y = (y.astype(dtype) if y.dtype.kind == "f" else y)[None]
                    p = np.asarray(point.y_pred, dtype=np.float64).astype(dtype)[None]
                my, mp_ = _to_mp(y[0]), _to_mp(p[0])
                outputs = {
                    "value": (loss(y, p, reduction="none", **point.params)[0], oracle.value),
                    "grad": (loss.grad(y, p, reduction="sum", **point.params)[0], oracle.grad),
                }
                if oracle.hess is not None:
                    outputs["hess"] = (loss.grad_hess(y, p, **point.params)[1][0], oracle.hess)
                for what, (got, fn) in outputs.items():
                    err = _worst(got, fn(my, mp_, **params), dtype)
                    if what not in worst or err > worst[what][0]:
                        worst[what] = (err, point)
            result[code] = worst
    return result


def _metric_outputs(loss, oracle, point, dtype):
    """{what: (kernel result, oracle function, mp inputs)} of a one-row metric point, or None
    when rounding an input to `dtype` overflows (a float64 point outside float32's range)."""
    arrays = []
    with np.errstate(all="ignore"):
        for x, name in zip(point.y_true, loss.input_names):
            if isinstance(x, (list, tuple)):
                a = np.asarray(x, dtype=np.float64).astype(dtype)
                if not np.isfinite(a).all() and np.isfinite(x).all():
                    return None
                arrays.append(a[None])
            else:
                arrays.append(np.array([x], dtype=np.float64))
    args = [_to_mp(a[0]) for a in arrays]
    value = loss(*arrays, reduction="none", **point.params)[0]
    _, grads = loss.value_and_grad(*arrays, reduction="sum", **point.params)
    return {"value": (value, oracle.value, args),
            "grad": ([g[0] for g in grads], oracle.grad, args)}


def bound(name):
    return BOUNDS.get(name, DEFAULT_BOUND)


def report(names=None, dtypes=("f8", "f4")):
    """Rows for every loss (or `names`): worst ulp error per dtype and output, and the bound."""
    import fastloss
    rows = []
    for name in names or fastloss.available():
        if name not in ORACLES:
            rows.append({"loss": name, "status": "no oracle"})
            continue
        measured = measure(name, dtypes)
        row = {"loss": name, "points": len(POINTS[name]), "bound_ulp": bound(name)}
        ok = True
        for code, worst in measured.items():
            for what, (err, point) in worst.items():
                row[f"{code}_{what}_ulp"] = err
                row[f"{code}_{what}_at"] = [point.y_true, point.y_pred, point.params]
                ok &= err <= bound(name)[code]
        row["status"] = "ok" if ok else "over bound"
        rows.append(row)
    return rows


def _fmt(x):
    return "inf" if x == math.inf else f"{x:.2f}"


def main(args):
    import json
    rows = report(args.losses or None, tuple(args.dtypes))
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0 if all(r["status"] in ("ok", "no oracle") for r in rows) else 1
    print(f"Worst error in ulp against mpmath at {DIGITS} digits, at each loss's hard points")
    head = f"{'loss':<34} {'points':>6}"
    for code in args.dtypes:
        head += f" {code + ' value':>9} {code + ' grad':>9} {code + ' hess':>9}"
    print(head + f"  {'bound':>11}  status")
    for r in rows:
        if r["status"] == "no oracle":
            print(f"{r['loss']:<34} {'-':>6}  no oracle in fastloss/accuracy.py")
            continue
        line = f"{r['loss']:<34} {r['points']:>6}"
        for code in args.dtypes:
            for what in ("value", "grad", "hess"):
                v = r.get(f"{code}_{what}_ulp")
                line += f" {'-' if v is None else _fmt(v):>9}"
        b = r["bound_ulp"]
        line += "  " + f"{'/'.join(_fmt(b[c]) for c in args.dtypes):>11}" + f"  {r['status']}"
        print(line)
    return 0 if all(r["status"] in ("ok", "no oracle") for r in rows) else 1


def add_arguments(parser):
    parser.add_argument("--losses", nargs="+", metavar="NAME", help="only these losses")
    parser.add_argument("--dtypes", nargs="+", choices=sorted(DTYPES), default=["f8", "f4"],
                        help="output dtypes to measure (default: f8 f4)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
