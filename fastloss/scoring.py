"""Large-batch scoring: several losses in one streamed pass over inputs that need not fit in memory.

``fl.score(losses, y_true, y_pred)`` walks the inputs in chunks of rows (axis 0), computes every
requested loss on a chunk while it is still in cache, and adds up each loss's partial sums
(of w*loss and of the weights, per block of rows: ``Loss._block_sums``) and its count. Inputs
may be arrays, ``np.memmap``s, ``.npy`` paths (memory-mapped), ``file.npz:name`` members, or an
iterable of ``(y_true, y_pred[, sample_weight])`` chunks.

Memory: a chunk is a few MB. Pages of memory-mapped files are handed back to the kernel
(``madvise(MADV_DONTNEED)``) after each chunk, so the resident set does not grow with the file;
compressed ``.npz`` members are decompressed chunk by chunk.

Determinism: results are bitwise identical for every chunk size, every split of an iterable of
chunks and every thread count. The rows of the whole input are cut into a fixed grid of blocks
of ``block_rows(row shape)`` rows counted from its first row (about 4096 elements: 4096 rows of
scalars, 4096 // K rows of K classes, which are the kernels' own reduction blocks). Each block's
partial sums (of w*loss and of w) are computed by a kernel in float64, in a fixed order, and
every block sum is added to an exact accumulator (Shewchuk's algorithm, as ``math.fsum``; in C:
``_parallel.exact_add``). The exact sum of the same block sums is the same correctly rounded
number in whatever order they arrive, so the chunking cannot change a bit. To keep the blocks
on the grid, ``chunk_size`` is rounded up to a multiple of block_rows, and the rows of an
iterable's chunk after its last whole block (fewer than a block) are copied and wait for the
next chunk's rows. Merging partial results (``a.merge(b)``) is exact and order-independent too;
it gives bitwise the single-pass result when every part but the last has a multiple of
block_rows rows (``fastloss.dask.score`` moves its chunk boundaries there).

Relation to the in-memory losses: ``fl.mse(y, p, reduction="sum")`` combines the same kind of
block sums with a pairwise float64 sum, not an exact one (and, for N-D elementwise inputs, with
blocks of 4096 elements rather than of whole rows), so it may differ from ``fl.score`` in the
last bits: they agree to float64 rounding (1e-12 relative is tested), not bitwise. For a
composite loss ``a * l1 + b * l2``, ``fl.score`` combines the parts block by block before the
exact sum. A loss without block sums (a user's ``Loss`` subclass) is scored one chunk at a
time, and its result may then depend on the chunking in the last bits.
"""

import ctypes
import math
import mmap
import numbers
import os
import sys
import time
import zipfile
from collections.abc import Iterator

import numpy as np

from fastloss._kernels._parallel import ELEMENTS_PER_BLOCK, exact_add
from fastloss._loss import Loss, get

__all__ = ["score", "ScoreResult", "LossScore", "parse_loss_spec", "open_array",
           "DEFAULT_CHUNK_BYTES", "block_rows"]

# A chunk of all inputs together: large enough to amortise the per-chunk Python work and the
# thread start-up of the kernels, small enough to stay in the L2/L3 cache between the losses.
DEFAULT_CHUNK_BYTES = 4 << 20
# Progress bars appear only once the work has taken this long (short runs stay quiet).
PROGRESS_DELAY = 0.5


# ----------------------------------------------------------------------------- exact sums

class ExactSum:
    """A float sum without rounding error: Shewchuk's non-overlapping partials (as math.fsum).

    ``value`` is the correctly rounded sum of everything added, whatever the order of the
    additions and merges. Non-finite terms are summed apart (inf + -inf = NaN, NaN sticks).
    """

    __slots__ = ("partials", "special")

    def __init__(self, values=()):
        self.partials = []
        self.special = 0.0
        for x in values:
            self.add(x)

    def add(self, x):
        x = float(x)
        if not math.isfinite(x):
            self.special += x
            return
        partials = self.partials
        i = 0
        for y in partials:
            if abs(x) < abs(y):
                x, y = y, x
            hi = x + y
            if not math.isfinite(hi):      # the running sum overflows: it is +-inf
                self.special += hi
                del partials[i:]
                return
            lo = y - (hi - x)
            if lo:
                partials[i] = lo
                i += 1
            x = hi
        partials[i:] = [x]

    def add_array(self, values):
        """Add every value of a 1-D float64 array (in C: thousands of block sums per pass)."""
        if len(values):
            self.partials, special = exact_add(self.partials, values)
            self.special += special

    def merge(self, other):
        """Add another ExactSum into this one (in place); returns self."""
        for x in other.partials:
            self.add(x)
        self.special += other.special
        return self

    def copy(self):
        new = ExactSum()
        new.partials = list(self.partials)
        new.special = self.special
        return new

    @property
    def value(self):
        if self.special != 0.0 or math.isnan(self.special):
            return self.special
        try:
            return math.fsum(self.partials)
        except OverflowError:
            return math.copysign(math.inf, self.partials[-1])

    def __getstate__(self):
        return (self.partials, self.special)

    def __setstate__(self, state):
        self.partials, self.special = state


# ----------------------------------------------------------------------------- loss specs

def _parse_value(text):
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return text


def parse_loss_spec(spec):
    """'huber:delta=2,...' -> ('huber', {'delta': 2}); a bare name gives no parameters."""
    if not isinstance(spec, str):
        raise TypeError(f"a loss spec must be a string, got {type(spec).__name__}")
    name, sep, rest = spec.strip().partition(":")
    params = {}
    if sep:
        for item in rest.split(","):
            key, eq, value = item.partition("=")
            if not eq or not key.strip() or not value.strip():
                raise ValueError(f"bad loss spec {spec!r}: expected name:param=value[,param=value]")
            key = key.strip()
            if key in params:
                raise ValueError(f"bad loss spec {spec!r}: parameter {key!r} given twice")
            params[key] = _parse_value(value.strip())
    return name.strip(), params


class _Spec:
    """One requested loss: the Loss, its bound parameters and the label it is reported under."""

    __slots__ = ("loss", "params", "label", "bound", "effective")

    def __init__(self, loss, params, label):
        self.loss, self.params, self.label = loss, dict(params), label
        self.bound = loss.bind(self.params)     # raises TypeError/ValueError on bad parameters
        # The effective parameter values (defaults included), as reported in the result.
        self.effective = dict(zip(loss.defaults, self.bound))

    def partial_sums(self, y, p, w):
        return self.loss.partial_sums(y, p, sample_weight=w, **self.params)

    def block_sums(self, rows, y, p, w):
        """The loss's block sums over blocks of `rows` rows from the first row of y, p, w."""
        return self.loss._block_sums(rows, (y, p), w, self.params)


def _label(name, params):
    if not params:
        return name
    return name + ":" + ",".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}"
                                 for k, v in params.items())


def resolve_losses(losses, params):
    """The list of _Spec for `losses` (name, spec string, Loss, (loss, dict), or a list of them).

    Keyword parameters given to ``score`` apply to every requested loss that has a parameter of
    that name (an error if none has); parameters in a spec string or a (loss, dict) pair apply to
    that loss only and take precedence.
    """
    if isinstance(losses, (str, Loss)) or (isinstance(losses, tuple) and len(losses) == 2
                                            and isinstance(losses[1], dict)):
        losses = [losses]
    try:
        items = list(losses)
    except TypeError:
        raise TypeError("losses must be a loss name, a Loss, or a list of them; got "
                        f"{type(losses).__name__}") from None
    if not items:
        raise ValueError("no loss requested")
    raw = []
    for item in items:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], dict):
            target, own = item
        elif isinstance(item, str):
            target, own = parse_loss_spec(item)
        else:
            target, own = item, {}
        if not isinstance(target, (str, Loss)):
            raise TypeError(f"losses: expected a loss name or a Loss, got {type(target).__name__}")
        raw.append((get(target), dict(own)))
    used = set()
    specs, labels = [], set()
    for loss, own in raw:
        accepted = set(loss.defaults)
        shared = {k: v for k, v in params.items() if k in accepted}
        used.update(shared)
        merged = {**shared, **own}
        label = _label(loss.name, own)
        if label in labels:
            raise ValueError(f"loss {label!r} is requested twice")
        labels.add(label)
        specs.append(_Spec(loss, merged, label))
    unused = sorted(set(params) - used)
    if unused:
        names = ", ".join(s.loss.name for s in specs)
        raise TypeError(f"parameter(s) {unused} not accepted by any requested loss ({names})")
    return specs


# ----------------------------------------------------------------------------- results

class LossScore:
    """The score of one loss: weighted mean, sum of w*loss, sum of weights, element count."""

    __slots__ = ("label", "name", "params", "_sum", "_weight", "count")

    def __init__(self, label, name, params, total=None, weight=None, count=0):
        self.label, self.name, self.params = label, name, dict(params)
        self._sum = total if total is not None else ExactSum()
        self._weight = weight if weight is not None else ExactSum()
        self.count = count

    def add(self, total, weight_total, count):
        self._sum.add(total)
        self._weight.add(weight_total)
        self.count += int(count)

    def add_blocks(self, sums, weight_sums, count):
        """Add block sums (Loss._block_sums); weight_sums None means unit weights."""
        self._sum.add_array(sums)
        if weight_sums is None:
            self._weight.add(float(count))
        else:
            self._weight.add_array(weight_sums)
        self.count += int(count)

    @property
    def sum(self):
        return self._sum.value

    @property
    def weight_total(self):
        return self._weight.value

    @property
    def mean(self):
        weight = self.weight_total
        return self.sum / weight if weight != 0 else math.nan

    def merged(self, other):
        return LossScore(self.label, self.name, self.params, self._sum.copy().merge(other._sum),
                         self._weight.copy().merge(other._weight), self.count + other.count)

    def to_dict(self):
        return {"loss": self.name, "params": dict(self.params), "mean": self.mean,
                "sum": self.sum, "weight_total": self.weight_total, "count": self.count}

    def __getstate__(self):
        return (self.label, self.name, self.params, self._sum, self._weight, self.count)

    def __setstate__(self, state):
        self.label, self.name, self.params, self._sum, self._weight, self.count = state

    def __repr__(self):
        return (f"LossScore({self.label!r}, mean={self.mean!r}, sum={self.sum!r}, "
                f"weight_total={self.weight_total!r}, count={self.count})")


class ScoreResult:
    """Per-loss scores of one pass (a mapping label -> LossScore), mergeable across parts.

    ``result["mse"].mean``; ``result.to_dict()``; ``print(result)`` gives a table.
    ``a.merge(b)`` is the result of scoring the concatenation of a's and b's inputs: bit for
    bit when a's rows are whole blocks (``block_rows``), else to float64 rounding.
    """

    def __init__(self, scores, rows=0):
        self.scores = {s.label: s for s in scores}
        self.rows = rows

    @classmethod
    def empty(cls, specs):
        return cls([LossScore(s.label, s.loss.name, s.effective) for s in specs])

    def merge(self, other):
        """A new result: the sums of both (the labels must be the same)."""
        if not isinstance(other, ScoreResult):
            raise TypeError(f"can only merge a ScoreResult, got {type(other).__name__}")
        if list(self.scores) != list(other.scores):
            raise ValueError(f"cannot merge results of different losses: {list(self.scores)} "
                             f"and {list(other.scores)}")
        return ScoreResult([s.merged(other.scores[k]) for k, s in self.scores.items()],
                           self.rows + other.rows)

    def __getitem__(self, label):
        return self.scores[label]

    def __iter__(self):
        return iter(self.scores)

    def __len__(self):
        return len(self.scores)

    def keys(self):
        return self.scores.keys()

    def values(self):
        return self.scores.values()

    def items(self):
        return self.scores.items()

    def to_dict(self):
        return {label: s.to_dict() for label, s in self.scores.items()}

    def __eq__(self, other):
        return isinstance(other, ScoreResult) and self._key() == other._key()

    def _key(self):
        def same_nan(x):
            return "nan" if math.isnan(x) else x
        return [(k, s.params, same_nan(s.sum), same_nan(s.weight_total), s.count)
                for k, s in self.scores.items()]

    __hash__ = None

    def __getstate__(self):
        return (list(self.scores.values()), self.rows)

    def __setstate__(self, state):
        scores, self.rows = state
        self.scores = {s.label: s for s in scores}

    def __str__(self):
        header = ("loss", "mean", "sum", "weight_total", "count")
        rows = [(k, repr(s.mean), repr(s.sum), repr(s.weight_total), str(s.count))
                for k, s in self.scores.items()]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        lines = ["  ".join(h.ljust(w) if i == 0 else h.rjust(w)
                           for i, (h, w) in enumerate(zip(row, widths)))
                 for row in [header, *rows]]
        return "\n".join(lines)

    def __repr__(self):
        inner = ", ".join(f"{k}={s.mean!r}" for k, s in self.scores.items())
        return f"<ScoreResult rows={self.rows} mean: {inner}>"


def _merge_all(results):
    results = list(results)
    total = results[0]
    for r in results[1:]:
        total = total.merge(r)
    return total


def block_rows(row_shape):
    """Rows per block of fl.score's grid, for rows (of y_pred) of shape `row_shape`.

    About the kernels' ELEMENTS_PER_BLOCK (4096) elements: 4096 rows of scalars, 4096 // K rows
    of K classes (the row-wise kernels' own block), at least 1 row.
    """
    per_row = math.prod(row_shape)
    return max(1, ELEMENTS_PER_BLOCK // per_row) if per_row else ELEMENTS_PER_BLOCK


def _add_chunk(result, specs, rows, y, p, w=None):
    """Score one in-memory chunk into `result`, blocks of `rows` rows from the chunk's first."""
    for spec, s in zip(specs, result.values()):
        s.add_blocks(*spec.block_sums(rows, y, p, w))


def score_chunk(specs, y, p, w=None):
    """The ScoreResult of one in-memory chunk (used by the streaming loop and by Dask).

    Its rows are cut into blocks of ``block_rows`` rows counted from its first row: a chunk that
    starts at a multiple of block_rows in the whole input has the same blocks as a single pass.
    """
    result = ScoreResult.empty(specs)
    _add_chunk(result, specs, block_rows(np.shape(p)[1:]), y, p, w)
    result.rows = _rows(p)
    return result


def _rows(arr):
    shape = getattr(arr, "shape", ())
    return int(shape[0]) if len(shape) else 1


# ----------------------------------------------------------------------------- inputs

_PAGE = mmap.PAGESIZE
try:
    _libc = ctypes.CDLL(None, use_errno=True)
    _madvise = _libc.madvise
    _madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    _madvise.restype = ctypes.c_int
    _MADV_DONTNEED = getattr(mmap, "MADV_DONTNEED", 4)
    _MADV_WILLNEED = getattr(mmap, "MADV_WILLNEED", 3)
except (OSError, AttributeError, TypeError):   # no libc madvise (Windows): pages stay mapped
    _madvise = None


def _file_mapping(arr):
    """The np.memmap at the root of `arr` when it maps a file read-only or shared, else None.

    Only such mappings may be given back with MADV_DONTNEED: their pages are reloaded from the
    file (or the page cache) when touched again. Private (copy-on-write, mode 'c') mappings and
    ordinary memory would lose data, so they are never released.
    """
    root = arr
    while isinstance(root, np.ndarray) and isinstance(root.base, np.ndarray):
        root = root.base
    if (isinstance(root, np.memmap) and isinstance(root.base, mmap.mmap)
            and getattr(root, "mode", None) in ("r", "r+", "readonly", "readwrite")):
        return root
    return None


def _advise(chunk, advice):
    if _madvise is None or chunk.nbytes == 0 or not chunk.flags.c_contiguous:
        return
    start = chunk.ctypes.data // _PAGE * _PAGE
    stop = -(-(chunk.ctypes.data + chunk.nbytes) // _PAGE) * _PAGE
    _madvise(start, stop - start, advice)


def _release_pages(chunk):
    """Drop the resident pages of a chunk of a memory-mapped file (keeps RSS bounded)."""
    _advise(chunk, _MADV_DONTNEED)


def _prefetch_pages(chunk):
    """Ask for a chunk's pages to be read ahead, so disk reads overlap the current chunk."""
    _advise(chunk, _MADV_WILLNEED)


class _ArraySource:
    """Row chunks of an array or memmap (pages of a file mapping are released after use)."""

    def __init__(self, arr, name, path=None):
        self.arr, self.name, self.path = arr, name, path
        self.release = _file_mapping(arr) is not None if isinstance(arr, np.ndarray) else False

    @property
    def shape(self):
        return self.arr.shape

    @property
    def dtype(self):
        return self.arr.dtype

    def read(self, start, stop):
        return self.arr[start:stop]

    def _pieces(self, chunk):
        """The contiguous pieces of a row chunk: itself, or its columns for a Fortran 2-D array."""
        if chunk.flags.c_contiguous:
            return (chunk,)
        if chunk.ndim == 2 and self.arr.flags.f_contiguous:
            return tuple(chunk[:, j] for j in range(chunk.shape[1]))
        return ()

    def done(self, chunk):
        if self.release:
            for piece in self._pieces(chunk):
                _release_pages(piece)

    def prefetch(self, start, stop):
        if self.release:
            for piece in self._pieces(self.arr[start:stop]):
                _prefetch_pages(piece)

    def close(self):
        pass


class _StreamSource:
    """Row chunks decompressed in order from a compressed .npz member (read sequentially)."""

    def __init__(self, zf, member, fp, shape, dtype, fortran, name, path):
        self.zf, self.member, self.fp = zf, member, fp
        self.shape, self.dtype, self.name, self.path = shape, dtype, name, path
        self.fortran = fortran
        self.position = 0
        self.row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize

    def read(self, start, stop):
        if start != self.position:
            raise RuntimeError("compressed .npz members are read in order only")
        count = stop - start
        data = self.fp.read(count * self.row_bytes)
        if len(data) != count * self.row_bytes:
            raise ValueError(f"{self.name}: {self.path} is truncated (rows {start}-{stop} missing)")
        self.position = stop
        return np.frombuffer(data, dtype=self.dtype).reshape((count,) + tuple(self.shape[1:]))

    def done(self, chunk):
        pass

    def prefetch(self, start, stop):
        pass

    def close(self):
        self.fp.close()
        self.zf.close()


def _check_file(path, name):
    if not os.path.exists(path):
        raise FileNotFoundError(f"{name}: no such file: {path}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{name}: {path} is a directory, not a file")


def _read_header(fp, name, path):
    """(shape, dtype, fortran_order) from an .npy header, with a clear error if it is not one."""
    try:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            return np.lib.format.read_array_header_1_0(fp)
        if version == (2, 0):
            return np.lib.format.read_array_header_2_0(fp)
        return np.lib.format._read_array_header(fp, version)    # 3.0: utf8 field names
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(f"{name}: {path} is not a valid .npy file ({exc})") from None


def _check_dtype(dtype, name, path):
    if dtype.hasobject or dtype.kind not in "fiub" or dtype.fields is not None:
        raise TypeError(f"{name}: {path} has dtype {dtype}; expected a real numeric array")


def _expected_bytes(shape, dtype):
    return int(np.prod(shape, dtype=np.int64)) * dtype.itemsize


def _open_npy(path, name):
    with open(path, "rb") as fp:
        shape, fortran, dtype = _read_header(fp, name, path)
        offset = fp.tell()
    _check_dtype(dtype, name, path)
    needed = offset + _expected_bytes(shape, dtype)
    size = os.path.getsize(path)
    if size < needed:
        raise ValueError(f"{name}: {path} is truncated: its header says {shape} {dtype} "
                         f"({needed} bytes) but the file has {size} bytes")
    if _expected_bytes(shape, dtype) == 0:
        arr = np.empty(shape, dtype=dtype, order="F" if fortran else "C")
    else:
        arr = np.load(path, mmap_mode="r")
    return _ArraySource(arr, name, path)


def _open_npz(path, member, name):
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{name}: {path} is not a valid .npz file ({exc})") from None
    try:
        names = [n[:-4] if n.endswith(".npy") else n for n in zf.namelist()]
        if member not in names:
            raise ValueError(f"{name}: {path} has no array named {member!r} "
                             f"(it has: {', '.join(names) or 'none'})")
        info = zf.getinfo(zf.namelist()[names.index(member)])
        fp = zf.open(info)
        shape, fortran, dtype = _read_header(fp, name, f"{path}:{member}")
        _check_dtype(dtype, name, f"{path}:{member}")
        header_len = fp.tell() if info.compress_type == zipfile.ZIP_STORED else None
        if info.compress_type == zipfile.ZIP_STORED:
            fp.close()
            # A stored member is the raw .npy inside the zip: memory-map its data directly.
            with open(path, "rb") as raw:
                raw.seek(info.header_offset)
                local = raw.read(30)
                name_len, extra_len = int.from_bytes(local[26:28], "little"), \
                    int.from_bytes(local[28:30], "little")
            offset = info.header_offset + 30 + name_len + extra_len + header_len
            data_bytes = _expected_bytes(shape, dtype)
            if info.file_size < header_len + data_bytes or \
                    os.path.getsize(path) < offset + data_bytes:
                raise ValueError(f"{name}: {path}:{member} is truncated")
            zf.close()
            if data_bytes == 0:
                arr = np.empty(shape, dtype=dtype)
            else:
                arr = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape,
                                order="F" if fortran else "C")
            return _ArraySource(arr, name, f"{path}:{member}")
        if fortran and len(shape) > 1:
            fp.close()
            raise ValueError(f"{name}: {path}:{member} is compressed and Fortran-ordered; "
                             "it cannot be streamed by rows (save it C-ordered or uncompressed)")
        if info.file_size < fp.tell() + _expected_bytes(shape, dtype):
            fp.close()
            raise ValueError(f"{name}: {path}:{member} is truncated")
        return _StreamSource(zf, member, fp, shape, dtype, fortran, name, f"{path}:{member}")
    except BaseException:
        zf.close()
        raise


def open_array(path, name="input", dtype=None, shape=None):
    """A row-chunk source for a file: ``.npy``, ``file.npz:member``, or raw binary.

    Raw binary (any other file) needs ``dtype``; ``shape`` is the full shape, whose first entry
    may be -1 (rows inferred from the file size); without it the file is one-dimensional.
    Every structural problem (missing file, directory, truncation, non-numeric dtype) raises
    here, before any data is read.
    """
    path = os.fspath(path)
    member = None
    if ".npz:" in path:
        path, _, member = path.rpartition(":")
    _check_file(path, name)
    if member is not None or path.endswith(".npz"):
        if not member:
            raise ValueError(f"{name}: name the array inside {path} as {path}:NAME")
        return _open_npz(path, member, name)
    if path.endswith(".npy") and dtype is None:
        return _open_npy(path, name)
    if dtype is None:
        raise ValueError(f"{name}: {path} is not a .npy or .npz file; give a dtype (and a "
                         "shape) to read it as raw binary")
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name}: unknown dtype {dtype!r}") from None
    _check_dtype(dtype, name, path)
    size = os.path.getsize(path)
    shape = (-1,) if shape is None else tuple(int(s) for s in shape)
    if any(s < 0 for s in shape[1:]) or shape[0] < -1:
        raise ValueError(f"{name}: bad shape {shape} (only the first entry may be -1)")
    row_bytes = _expected_bytes(shape[1:], dtype)
    if shape[0] == -1:
        if row_bytes == 0 or size % row_bytes:
            raise ValueError(f"{name}: {path} has {size} bytes, not a whole number of rows of "
                             f"{shape[1:]} {dtype} ({row_bytes} bytes each)")
        shape = (size // row_bytes,) + shape[1:]
    if size != _expected_bytes(shape, dtype):
        raise ValueError(f"{name}: {path} has {size} bytes but shape {shape} of {dtype} needs "
                         f"{_expected_bytes(shape, dtype)}")
    if size == 0:
        return _ArraySource(np.empty(shape, dtype=dtype), name, path)
    return _ArraySource(np.memmap(path, dtype=dtype, mode="r", shape=shape), name, path)


def _source(x, name):
    if isinstance(x, (_ArraySource, _StreamSource)):
        return x
    if isinstance(x, (str, os.PathLike)):
        return open_array(x, name)
    if not isinstance(x, np.ndarray):
        try:
            x = np.asarray(x)
        except (ValueError, TypeError) as exc:
            raise TypeError(f"{name} cannot be converted to an array: {exc}") from None
    return _ArraySource(x, name)


def _is_chunk_iterable(x):
    """An iterable of chunks (list, generator, ...), as opposed to an array-like or a path."""
    return (hasattr(x, "__iter__") and not hasattr(x, "__array__") and not hasattr(x, "shape")
            and not isinstance(x, (str, bytes, os.PathLike, _ArraySource, _StreamSource)))


# ----------------------------------------------------------------------------- progress

class _PlainProgress:
    """A one-line progress bar on stderr: rows done, rows/s, ETA (shown after `delay` s)."""

    def __init__(self, total, delay=None, stream=None):
        self.total, self.stream = total, stream or sys.stderr
        self.delay = PROGRESS_DELAY if delay is None else delay
        self.start = self.last = time.perf_counter()
        self.done = self.drawn = 0
        self.shown = False

    def update(self, rows):
        self.done += rows
        now = time.perf_counter()
        if now - self.start >= self.delay and (now - self.last >= 0.2 or self.done == self.total):
            self.last = now
            self._draw(now)

    def _draw(self, now):
        elapsed = max(now - self.start, 1e-9)
        rate = self.done / elapsed
        if self.total:
            frac = self.done / self.total
            bar = "#" * int(frac * 30)
            eta = (self.total - self.done) / rate if rate > 0 else math.inf
            text = (f"\rscoring [{bar:<30}] {frac:6.1%} {self.done:,}/{self.total:,} rows "
                    f"{_si(rate)} rows/s ETA {_duration(eta)}")
        else:
            text = f"\rscoring {self.done:,} rows {_si(rate)} rows/s {_duration(elapsed)}"
        self.stream.write(text)
        self.stream.flush()
        self.shown, self.drawn = True, self.done

    def close(self):
        if self.shown:
            if self.drawn != self.done:
                self._draw(time.perf_counter())
            self.stream.write("\n")
            self.stream.flush()


def _si(x):
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= scale:
            return f"{x / scale:.1f}{unit}"
    return f"{x:.0f}"


def _duration(seconds):
    if not math.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _progress_bar(progress, total):
    """None, or an object with update(rows) and close()."""
    if not progress:
        return None
    if hasattr(progress, "update") and hasattr(progress, "close"):
        return progress
    try:
        from tqdm import tqdm
    except ImportError:
        return _PlainProgress(total)
    return tqdm(total=total, unit="rows", unit_scale=True, desc="scoring", delay=PROGRESS_DELAY,
                file=sys.stderr, leave=True)


# ----------------------------------------------------------------------------- scoring

def _chunk_rows(sources, chunk_size, rows=None):
    """Rows per chunk: chunk_size (or about DEFAULT_CHUNK_BYTES) rounded up to whole blocks.

    `rows` is the block (by default that of sources[1], y_pred).
    """
    if rows is None:
        rows = block_rows(sources[1].shape[1:])
    if chunk_size is not None:
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, numbers.Integral) \
                or chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
        step = int(chunk_size)
    else:
        row_bytes = sum(_expected_bytes(s.shape[1:], s.dtype) for s in sources)
        step = max(1, DEFAULT_CHUNK_BYTES // max(row_bytes, 1))
    return -(-step // rows) * rows


def _check_rows(sources):
    for s in sources:
        if len(s.shape) == 0:
            raise ValueError(f"{s.name} must have at least one dimension (rows), got a scalar")
    rows = {s.name: s.shape[0] for s in sources}
    if len(set(rows.values())) > 1:
        described = ", ".join(f"{k} has {v}" for k, v in rows.items())
        raise ValueError(f"inputs must have the same number of rows: {described}")
    return sources[0].shape[0]


def score(losses, y_true, y_pred=None, *, sample_weight=None, chunk_size=None, progress=False,
          **params):
    """Score predictions with one or several losses in one streamed pass over row chunks.

    Parameters
    ----------
    losses : str, Loss, (loss, dict) or list of them
        Loss names (``fl.available()``), spec strings with parameters such as
        ``"huber:delta=2"``, Loss objects, or ``(loss, {"delta": 2})`` pairs.
    y_true, y_pred : array_like, np.memmap, path, or None
        Arrays (any shape; chunks are taken along axis 0), ``.npy`` paths (memory-mapped),
        ``"file.npz:name"`` members. Alternatively ``y_true`` is an iterable (a list, a
        generator) of ``(y_true, y_pred)`` or ``(y_true, y_pred, sample_weight)`` chunks and
        ``y_pred`` is None; chunks may have any number of rows (0 too), with rows of the same
        shape in every chunk.
    sample_weight : array_like or path, optional
        Weights, with the same rows as y_pred (per element or per row, as the losses expect).
    chunk_size : int, optional
        Rows per chunk; by default a chunk of all inputs is about ``DEFAULT_CHUNK_BYTES``.
        Rounded up to a multiple of ``block_rows`` (4096 rows of scalars, 4096 // K rows of K
        values), so that the result does not depend on it.
    progress : bool or object with update(rows)/close()
        A progress bar on stderr (tqdm when installed), shown once the work takes 0.5 s.
    **params
        Loss parameters, applied to every requested loss that has a parameter of that name.

    Returns
    -------
    ScoreResult
        Per loss (by label: the name, or the spec string's ``name:param=value``): ``mean``
        (weighted: sum(w*l) / sum(w), NaN when the weights sum to 0), ``sum``, ``weight_total``
        and ``count`` (elements). ``to_dict()``, ``merge()``, ``print()``.

    The result is bitwise the same for every chunk_size, every way of splitting an iterable of
    chunks and every thread count (see the module's docstring).

    Errors in the inputs' structure (files, row counts, shapes, dtypes, loss parameters) are
    raised before any chunk is scored; for an iterable of chunks, a bad chunk raises when its
    rows are scored (at the latest with the next chunk's, as a chunk's last rows wait for them
    to fill a block), naming it, and no result is returned.

    Examples
    --------
    >>> import fastloss as fl
    >>> r = fl.score(["mse", "huber:delta=2"], [0.0, 1.0, 2.0], [0.0, 1.0, 5.0])
    >>> r["mse"].mean, r["huber:delta=2"].sum
    (3.0, 4.0)
    """
    specs = resolve_losses(losses, params)
    if y_pred is None:
        if not _is_chunk_iterable(y_true):
            raise TypeError("y_pred is required (unless y_true is an iterable of "
                            "(y_true, y_pred[, sample_weight]) chunks)")
        if sample_weight is not None:
            raise TypeError("with an iterable of chunks, give the weights in the chunks "
                            "((y_true, y_pred, sample_weight)), not as sample_weight")
        return _score_chunks(specs, y_true, progress)
    if isinstance(y_true, Iterator):
        raise TypeError("y_true is an iterator: pass an iterable of chunks alone (y_pred=None) "
                        "or arrays for both y_true and y_pred")
    sources = []
    try:
        sources.append(_source(y_true, "y_true"))
        sources.append(_source(y_pred, "y_pred"))
        if sample_weight is not None:
            sources.append(_source(sample_weight, "sample_weight"))
        return _score_sources(specs, sources, chunk_size, progress)
    finally:
        for s in sources:
            s.close()


def _score_sources(specs, sources, chunk_size, progress):
    y_src, p_src = sources[0], sources[1]
    w_src = sources[2] if len(sources) == 3 else None
    if any(len(s.shape) == 0 for s in sources) and \
            all(isinstance(s, _ArraySource) and s.path is None for s in sources):
        return score_chunk(specs, *(s.arr for s in sources))   # in-memory scalars: one chunk
    n = _check_rows(sources)
    rows = block_rows(p_src.shape[1:])
    step = _chunk_rows(sources, chunk_size, rows)
    # Validate shapes, dtypes and labels on a one-row slice before any real work starts.
    if n > 0 and not any(isinstance(s, _StreamSource) for s in sources):
        probe = [s.read(0, 1) for s in sources]
        score_chunk(specs, *probe)
    result = ScoreResult.empty(specs)
    bar = _progress_bar(progress, n)
    try:
        for start in range(0, n, step) if n else [0]:
            stop = min(start + step, n)
            y, p = y_src.read(start, stop), p_src.read(start, stop)
            w = w_src.read(start, stop) if w_src is not None else None
            for src in sources:
                src.prefetch(stop, min(stop + step, n))
            _add_chunk(result, specs, rows, y, p, w)
            for src, chunk in ((y_src, y), (p_src, p), (w_src, w)):
                if src is not None:
                    src.done(chunk)
            del y, p, w
            if bar is not None:
                bar.update(stop - start)
    finally:
        if bar is not None:
            bar.close()
    result.rows = n
    return result


def _score_chunks(specs, chunks, progress):
    """Score an iterable of chunks on the block grid of the whole (concatenated) input.

    The rows of a chunk after its last whole block wait, copied (the caller may reuse its
    buffers), for the next chunk's first rows; so every block the kernels see is a block of the
    whole input, wherever the chunks begin and end.
    """
    result = ScoreResult.empty(specs)
    bar = _progress_bar(progress, None)
    width = row_shapes = rows = None
    carry, carried = [], 0      # segments (chunk index, first row in it, arrays); carried rows
    try:
        for index, chunk in enumerate(chunks):
            if not isinstance(chunk, (tuple, list)) or len(chunk) not in (2, 3):
                raise ValueError(f"chunk {index}: expected a (y_true, y_pred[, sample_weight]) "
                                 f"tuple, got {type(chunk).__name__}"
                                 + (f" of length {len(chunk)}" if isinstance(chunk, (tuple, list))
                                    else ""))
            if len(chunk) == 3 and chunk[2] is None:
                chunk = chunk[:2]
            if width is None:
                width = len(chunk)
            elif len(chunk) != width:
                raise ValueError(f"chunk {index} has {len(chunk)} items but chunk 0 had {width}: "
                                 "give sample_weight in every chunk or in none")
            arrays = [np.asarray(a) for a in chunk]
            arrays = [a.reshape(1) if a.ndim == 0 else a for a in arrays]
            n_rows = [a.shape[0] for a in arrays]
            if len(set(n_rows)) > 1:
                names = ("y_true", "y_pred", "sample_weight")
                raise ValueError(f"chunk {index}: inputs have different row counts: " + ", ".join(
                    f"{nm} {r}" for nm, r in zip(names, n_rows)))
            n = n_rows[0]
            shapes = [a.shape[1:] for a in arrays]
            if n == 0:             # nothing to add, but its shapes and dtypes are checked
                _score_segments(result, specs, rows or block_rows(shapes[1]),
                                [(index, 0, arrays)])
                continue
            if row_shapes is None:
                row_shapes, rows = shapes, block_rows(shapes[1])
            elif shapes != row_shapes:
                raise ValueError(f"chunk {index}: rows of shapes {shapes} (y_true, y_pred"
                                 f"{', sample_weight' if width == 3 else ''}), but earlier "
                                 f"chunks' rows have shapes {row_shapes}")
            start = 0
            if carry:              # complete the waiting block with this chunk's first rows
                start = min(rows - carried, n)
                carry.append((index, 0, [np.array(a[:start]) for a in arrays]))
                carried += start
                if carried == rows:
                    _score_segments(result, specs, rows, carry)
                    carry, carried = [], 0
            stop = start + (n - start) // rows * rows
            if stop > start:
                _score_segments(result, specs, rows,
                                [(index, start, [a[start:stop] for a in arrays])])
            if stop < n:
                carry.append((index, stop, [np.array(a[stop:]) for a in arrays]))
                carried += n - stop
            if bar is not None:
                bar.update(n)
        if carry:
            _score_segments(result, specs, rows, carry)
    finally:
        if bar is not None:
            bar.close()
    return result


def _score_segments(result, specs, rows, segments):
    """Add the rows of consecutive segments (chunk index, first row, arrays) as one piece.

    A ValueError or TypeError names the chunk (and the rows of it) that caused it.
    """
    if len(segments) == 1:
        arrays = segments[0][2]
    else:
        arrays = [np.concatenate(parts) for parts in zip(*(seg[2] for seg in segments))]
    try:
        _add_chunk(result, specs, rows, *arrays)
    except (ValueError, TypeError) as exc:
        culprit, error = segments, exc
        if len(segments) > 1:      # which segment is it? Score them alone to find out.
            for segment in segments:
                try:
                    _add_chunk(ScoreResult.empty(specs), specs, rows, *segment[2])
                except (ValueError, TypeError) as own:
                    culprit, error = [segment], own
                    break
        first_index, first_row, _ = culprit[0]
        last_index = culprit[-1][0]
        n = sum(seg[2][0].shape[0] for seg in culprit)
        if first_index != last_index:
            where = f"chunks {first_index} to {last_index}"
        elif first_row == 0:
            where = f"chunk {first_index}"
        else:
            where = (f"chunk {first_index} (rows {first_row} to {first_row + n - 1}, "
                     "renumbered from 0)")
        raise type(error)(f"{where}: {error}") from None
