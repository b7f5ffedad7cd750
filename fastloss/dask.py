"""Score Dask arrays: per-chunk partial sums on the workers, combined by a tree reduction.

    >>> import dask.array as da
    >>> import fastloss.dask
    >>> y = da.zeros(1_000_000, chunks=100_000)
    >>> p = da.ones(1_000_000, chunks=100_000)
    >>> fastloss.dask.score(["mse", "huber:delta=2"], y, p)["mse"].mean
    1.0

It runs on whatever scheduler is active: the threaded one by default, or a
``dask.distributed.Client`` (``Client("tcp://scheduler:8786")`` for an existing cluster).
Each block is scored with the fastloss kernels (``fastloss.scoring.score_chunk``) where it lives;
only the small ``ScoreResult`` objects travel, and they merge exactly (see ``ScoreResult.merge``),
so the result does not depend on the shape of the reduction tree.

Dask is an optional dependency: ``pip install "fastloss[dask]"``.
"""

import math

from fastloss import scoring
from fastloss._loss import get

__all__ = ["score"]

try:
    import dask
    import dask.array as da
except ImportError:        # pragma: no cover - exercised only without dask installed
    dask = da = None


def _require_dask():
    if da is None:
        raise ImportError('fastloss.dask needs dask: pip install "fastloss[dask]" '
                          '(or "dask[array,distributed]")')


def _specs(recipe):
    """Rebuild the loss specs on a worker from picklable (name, params, label) triples."""
    return [scoring._Spec(get(name), params, label) for name, params, label in recipe]


def _score_block(recipe, y, p, w=None):
    return scoring.score_chunk(_specs(recipe), y, p, w)


def _merge_group(*results):
    return scoring._merge_all(results)


def _as_dask(x, name):
    if isinstance(x, da.Array):
        return x
    try:
        return da.asarray(x)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"{name} cannot be converted to a dask array: {exc}") from None


def _align(arrays, names):
    """Whole rows in each block, and the same row chunks for every array (y_pred's)."""
    for arr, name in zip(arrays, names):
        if arr.ndim == 0:
            raise ValueError(f"{name} must have at least one dimension (rows), got a scalar")
    rows = [arr.shape[0] for arr in arrays]
    if all(not math.isnan(r) for r in rows) and len(set(rows)) > 1:
        described = ", ".join(f"{n} has {r}" for n, r in zip(names, rows))
        raise ValueError(f"inputs must have the same number of rows: {described}")
    reference = _on_block_grid(arrays[1].chunks[0], arrays[1].shape[1:])
    aligned = []
    for arr, name in zip(arrays, names):
        if arr.ndim > 1 and any(n > 1 for n in arr.numblocks[1:]):
            arr = arr.rechunk({axis: -1 for axis in range(1, arr.ndim)})
        if arr.chunks[0] != reference:
            if any(math.isnan(c) for c in arr.chunks[0] + reference):
                raise ValueError(f"{name} and y_pred have different row chunks of unknown "
                                 "sizes; call .compute_chunk_sizes() or rechunk them alike")
            arr = arr.rechunk({0: reference})
        aligned.append(arr)
    return aligned


def _on_block_grid(row_chunks, row_shape):
    """Row chunks whose boundaries are moved down to multiples of scoring.block_rows.

    Then every block the kernels see is a block of fastloss.score's grid, and the result is
    bitwise that of fastloss.score (rechunking moves fewer than block_rows rows per boundary) on
    workers of the same CPU variant (see fastloss._kernels._dispatch).
    Chunks of unknown size are left as they are.
    """
    if any(math.isnan(c) for c in row_chunks) or any(math.isnan(d) for d in row_shape):
        return row_chunks
    rows = scoring.block_rows(row_shape)
    bounds, total = [0], 0
    for size in row_chunks[:-1]:
        total += size
        cut = total // rows * rows
        if cut > bounds[-1]:
            bounds.append(cut)
    total += row_chunks[-1] if row_chunks else 0
    if total > bounds[-1] or len(bounds) == 1:
        bounds.append(total)
    return tuple(b - a for a, b in zip(bounds, bounds[1:]))


def score(losses, y_true, y_pred, sample_weight=None, *, split_every=8, **params):
    """Score dask arrays with one or several losses; returns a ``fastloss.ScoreResult``.

    Parameters
    ----------
    losses : str, Loss, (loss, dict) or list of them
        As for ``fastloss.score`` (e.g. ``["mse", "huber:delta=2"]``).
    y_true, y_pred, sample_weight : dask arrays (NumPy arrays are wrapped)
        The same number of rows. Blocks are taken along axis 0 (rows) with y_pred's row
        chunks; other arrays are rechunked to match, and other axes to one chunk, so that each
        block holds whole rows.
    split_every : int
        Fan-in of the tree reduction of the per-block results.
    **params
        Loss parameters (applied to each requested loss that has them).

    The loss names and parameters are checked here, before anything is computed; the blocks
    are scored on the workers with the fastloss kernels and the partial results merged exactly.
    Row chunk boundaries are first moved down to multiples of ``fastloss.scoring.block_rows``
    (4096 rows of scalars, 4096 // K rows of K classes), so every kernel block is a block of
    ``fastloss.score``'s grid: the result equals ``fastloss.score`` on the same data bit for
    bit, whatever the chunks (unless their sizes are unknown, NaN: then only when every chunk
    but the last is a multiple of block_rows). It equals the in-memory
    ``fastloss.<loss>(...)`` to float64 rounding.
    """
    _require_dask()
    specs = scoring.resolve_losses(losses, params)
    if not isinstance(split_every, int) or isinstance(split_every, bool) or split_every < 2:
        raise ValueError(f"split_every must be an integer >= 2, got {split_every!r}")
    names = ["y_true", "y_pred"] + (["sample_weight"] if sample_weight is not None else [])
    inputs = [y_true, y_pred] + ([sample_weight] if sample_weight is not None else [])
    arrays = _align([_as_dask(x, n) for x, n in zip(inputs, names)], names)
    recipe = [(s.loss.name, s.params, s.label) for s in specs]
    blocks = [arr.to_delayed().ravel() for arr in arrays]
    score_block = dask.delayed(_score_block, pure=True)
    level = [score_block(recipe, *parts) for parts in zip(*blocks)]
    merge = dask.delayed(_merge_group, pure=True)
    while len(level) > 1:
        level = [merge(*level[i:i + split_every]) for i in range(0, len(level), split_every)]
    (result,) = dask.compute(level[0])
    return result
