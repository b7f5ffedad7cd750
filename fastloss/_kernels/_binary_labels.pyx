# cython: language_level=3
"""One pass over floating-point hinge labels for validation (private; never raises).

Deciding whether labels are {-1, +1} or {0, 1} needs exact membership, which min/max cannot
give for floats (0.5 lies between 0 and 1), and NumPy would need boolean temporaries of the
input's size. This scan reads the labels once without allocating. It works on the IEEE bit
patterns as 32-bit words (a float32, or the two halves of a float64): integer compares that
baseline SSE2 vectorizes, where float64 compares OR-ed into flags stay scalar (measured ~10x
slower with gcc -O3).
"""
from fastloss._kernels._common cimport BLOCK

cdef enum:
    SIGN = 0x80000000


def scan_sign_labels(const unsigned int[::1] words, Py_ssize_t stride, Py_ssize_t high,
                     unsigned int one_bits, unsigned int inf_bits):
    """(index of the first label outside {-1, 0, +1} and not NaN, or -1; any -1; any 0).

    words: the labels' bits; stride 1 for float32 (one word per label), 2 for float64, whose
    sign/exponent word is words[2 i + high] (high = 1 on little-endian machines). one_bits and
    inf_bits: the bits of 1.0 and inf in that word (0x3F800000, 0x7F800000 for float32;
    0x3FF00000, 0x7FF00000 for float64). NaN labels are not reported: NaN propagates.
    """
    cdef Py_ssize_t n = words.shape[0] // stride, start = 0, stop, i, first_bad = -1
    cdef Py_ssize_t low = 1 - high
    cdef unsigned int odd, any_neg = 0, any_zero = 0, top, mag, rest
    cdef unsigned int minus_one = one_bits | SIGN
    cdef const unsigned int* w = &words[0] if words.shape[0] > 0 else NULL
    with nogil:
        while start < n and first_bad < 0:
            stop = start + BLOCK if start + BLOCK < n else n
            odd = 0
            # Fast pass, branch-free: flags anything that is not exactly -1, 0 (either sign) or 1.
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
            if odd:
                # Exact pass over this block only: NaN is allowed, anything else is reported.
                for i in range(start, stop):
                    if stride == 1:
                        top = w[i]
                        rest = 0
                    else:
                        top = w[2 * i + high]
                        rest = w[2 * i + low]
                    mag = top & ~(<unsigned int> SIGN)
                    if mag > inf_bits or (mag == inf_bits and rest != 0):
                        continue   # NaN
                    if rest != 0 or (mag != 0 and mag != one_bits):
                        first_bad = i
                        break
            start = stop
    return first_bad, bool(any_neg), bool(any_zero)
