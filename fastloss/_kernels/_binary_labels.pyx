# cython: language_level=3
"""One pass over floating-point hinge labels for validation (private; never raises).

Deciding whether labels are {-1, +1} or {0, 1} needs exact membership, which min/max cannot
give for floats (0.5 lies between 0 and 1), and NumPy would need boolean temporaries of the
input's size. This scan reads the labels once without allocating. It works on the IEEE bit
patterns as 32-bit words (a float32, or the two halves of a float64): integer compares that
baseline SSE2 vectorizes, where float64 compares OR-ed into flags stay scalar (measured ~10x
slower with gcc -O3).
"""
from cython.parallel cimport prange
from libc.stdlib cimport malloc, free

from fastloss._kernels._common cimport BLOCK

cdef enum:
    SIGN = 0x80000000

cdef enum:
    ODD = 1    # a block's flags (_block_flags)
    NEG = 2
    ZERO = 4


cdef inline unsigned int _block_flags(const unsigned int* w, Py_ssize_t stride, Py_ssize_t high,
                                      unsigned int one_bits, Py_ssize_t start,
                                      Py_ssize_t stop) noexcept nogil:
    """The fast pass over labels [start, stop), branch-free: ODD if one is not exactly -1, 0
    (either sign) or 1 (NaN included: the exact pass decides), NEG for a -1, ZERO for a 0."""
    cdef Py_ssize_t i, low = 1 - high
    cdef unsigned int odd = 0, any_neg = 0, any_zero = 0, top, mag
    cdef unsigned int minus_one = one_bits | SIGN
    if stride == 1:
        for i in range(start, stop):
            top = w[i]
            mag = top & ~(<unsigned int> SIGN)
            odd |= (mag != 0) & (mag != one_bits)
            any_neg |= top == minus_one
            any_zero |= mag == 0
    else:
        for i in range(start, stop):
            top = w[2 * i + high]
            mag = top & ~(<unsigned int> SIGN)
            odd |= (w[2 * i + low] != 0) | ((mag != 0) & (mag != one_bits))
            any_neg |= top == minus_one
            any_zero |= mag == 0
    return (ODD if odd else 0) | (NEG if any_neg else 0) | (ZERO if any_zero else 0)


cdef inline Py_ssize_t _first_bad(const unsigned int* w, Py_ssize_t stride, Py_ssize_t high,
                                  unsigned int one_bits, unsigned int inf_bits,
                                  Py_ssize_t start, Py_ssize_t stop) noexcept nogil:
    """The exact pass over [start, stop): the first label that is neither -1, 0, 1 nor NaN."""
    cdef Py_ssize_t i
    cdef unsigned int top, rest, mag
    for i in range(start, stop):
        if stride == 1:
            top = w[i]
            rest = 0
        else:
            top = w[2 * i + high]
            rest = w[2 * i + 1 - high]
        mag = top & ~(<unsigned int> SIGN)
        if mag > inf_bits or (mag == inf_bits and rest != 0):
            continue   # NaN
        if rest != 0 or (mag != 0 and mag != one_bits):
            return i
    return -1


def scan_sign_labels(const unsigned int[::1] words, Py_ssize_t stride, Py_ssize_t high,
                     unsigned int one_bits, unsigned int inf_bits, int n_threads=1):
    """(index of the first label outside {-1, 0, +1} and not NaN, or -1; any -1; any 0).

    words: the labels' bits; stride 1 for float32 (one word per label), 2 for float64, whose
    sign/exponent word is words[2 i + high] (high = 1 on little-endian machines). one_bits and
    inf_bits: the bits of 1.0 and inf in that word (0x3F800000, 0x7F800000 for float32;
    0x3FF00000, 0x7FF00000 for float64). NaN labels are not reported: NaN propagates.
    The fast pass runs over blocks on n_threads; the exact pass only over the blocks it flagged,
    in order, so the first bad label is found whatever the thread count.
    """
    cdef Py_ssize_t n = words.shape[0] // stride, nb = (n + BLOCK - 1) // BLOCK, b, start
    cdef Py_ssize_t first_bad = -1
    cdef unsigned int all_flags = 0
    cdef const unsigned int* w = &words[0] if words.shape[0] > 0 else NULL
    if n == 0:
        return -1, False, False
    cdef unsigned char* flags = <unsigned char*> malloc(nb)
    if flags == NULL:
        raise MemoryError()
    with nogil:
        for b in prange(nb, schedule="static", num_threads=n_threads, use_threads_if=n_threads > 1):
            start = b * BLOCK
            flags[b] = <unsigned char> _block_flags(w, stride, high, one_bits, start,
                                                    min(start + BLOCK, n))
        for b in range(nb):
            all_flags |= flags[b]
            if flags[b] & ODD and first_bad < 0:
                first_bad = _first_bad(w, stride, high, one_bits, inf_bits, b * BLOCK,
                                       min(b * BLOCK + BLOCK, n))
    free(flags)
    return first_bad, bool(all_flags & NEG), bool(all_flags & ZERO)
