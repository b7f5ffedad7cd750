# cython: language_level=3
"""fastloss's per-sample math for other Cython extensions: ``cimport fastloss``.

Every function here is ``cdef inline ... noexcept nogil`` on C doubles, header-only: it compiles
into YOUR extension (nothing to link against, no Python objects, callable inside ``prange``), and
is the same code fastloss's own kernels run (compiled with your flags: the exp/log functions
use fused multiply-adds where they enable FMA, as fastloss's AVX2 and AVX-512 builds do, so
their last bits follow the flags). NaN in gives NaN out; nothing raises.

    # my_ext.pyx
    cimport fastloss
    from fastloss cimport closs_grad_huber, loss_grad_t, log1pexp

    cdef double softplus_of(double x) noexcept nogil:
        return log1pexp(x)                       # log(1 + exp(x)), exact for every finite x

    cdef loss_grad_t lg = closs_grad_huber(1.0, 3.0, 1.5)   # (y, p, delta): lg.loss, lg.grad

Build it with fastloss installed (Cython finds this file on sys.path) or with the fastloss
source tree on Cython's include path; no other include directory or library is needed.

Naming, for each regression loss X in {mse, mae, huber, quantile, log_cosh}, y the target and p
the prediction (parameters, e.g. huber's delta or quantile's alpha, follow p):

    double      closs_X(y, p, ...)        the loss of one sample
    double      cgrad_X(y, p, ...)        d loss / d p
    loss_grad_t closs_grad_X(y, p, ...)   both, sharing work  (fields .loss, .grad)
    grad_hess_t cgrad_hess_X(y, p, ...)   first and second derivative (fields .grad, .hess;
                                          hess is 0 where the loss is piecewise linear)

Conventions are those of the Python losses (see help(fastloss.X)): mse is (y - p)^2,
huber is r^2/2 / delta (|r| - delta/2), quantile is the pinball loss, MAE's subgradient is 0 at
p == y. Shared helpers: ``log1pexp(x)`` (softplus), ``sign_nan(x)`` (np.sign, NaN stays NaN),
``pairwise_sum(ptr, n)`` (sum with O(log n) error growth).
"""

from fastloss._kernels._common cimport (
    loss_grad_t, grad_hess_t, log1pexp, sign_nan, pairwise_sum,
)

from fastloss._kernels._math_regression cimport (
    closs_mse, cgrad_mse, closs_grad_mse, cgrad_hess_mse,
    closs_mae, cgrad_mae, closs_grad_mae, cgrad_hess_mae,
    closs_huber, cgrad_huber, closs_grad_huber, cgrad_hess_huber,
    closs_quantile, cgrad_quantile, closs_grad_quantile, cgrad_hess_quantile,
    closs_log_cosh, cgrad_log_cosh, closs_grad_log_cosh, cgrad_hess_log_cosh,
)

# Other elementwise families re-export their _math_<family>.pxd here in the same way.
