# cython: language_level=3
"""A cache of the large output arrays fastloss returns (gradients, per-element values).

Why: a gradient of 10^7 float64 is 80 MB, which the C library maps afresh for every call and
the kernel then faults in page by page (the OS zeroing each page first): 3 to 5 ms a call on
the benchmark machine, up to 75% of a memory-bound gradient's time (mse float32: 6.3 ms
against 3.7 with ``out=``). A training loop frees its last gradient before it asks for the
next, so the outputs are allocated through a NumPy memory handler (NEP 49) that keeps a few
freed blocks, with their pages mapped, and hands one out again for a request of the same size.

Only arrays fastloss allocates use the handler (it is set around their np.empty only); an array
from the cache is an ordinary ndarray, freed into the cache when its last reference goes. The
cache holds at most SLOTS blocks and ``limit`` bytes in all (FASTLOSS_CACHE_MB, 1024 by
default; 0 turns it off); blocks below MIN_BYTES go straight to the C library, as do blocks
the cache has no room for. ``release()`` returns every cached block.

Each block carries its capacity in a 64-byte header (so a block is reused only for a request it
holds, whatever size NumPy reports when it frees it) and its data is 64-byte aligned. The
handler's functions run with the GIL held (NumPy allocates and frees array data under it), and
take a spin lock anyway, so a caller without the GIL cannot corrupt the slots.
"""
import os

import numpy as np

cdef extern from *:
    """
    #include <stdlib.h>
    #include <string.h>
    #include <stdint.h>
    #include <stdatomic.h>
    #include <numpy/arrayobject.h>

    #define FL_SLOTS 8
    #define FL_HEADER 64

    typedef struct { char* block; size_t capacity; uint64_t stamp; } fl_slot_t;
    static fl_slot_t fl_slots[FL_SLOTS];
    static size_t fl_held = 0, fl_limit = 0, fl_min_bytes = (size_t) 1 << 20;
    static uint64_t fl_clock = 0, fl_hits = 0, fl_misses = 0;
    static atomic_flag fl_lock = ATOMIC_FLAG_INIT;

    static void fl_acquire(void) { while (atomic_flag_test_and_set_explicit(&fl_lock, memory_order_acquire)) {} }
    static void fl_release_lock(void) { atomic_flag_clear_explicit(&fl_lock, memory_order_release); }

    /* A new block of `capacity` data bytes: header (the capacity) then 64-byte aligned data. */
    static void* fl_new_block(size_t capacity) {
        void* block = NULL;
        if (capacity > SIZE_MAX - FL_HEADER) return NULL;
        if (posix_memalign(&block, FL_HEADER, FL_HEADER + capacity) != 0) return NULL;
        *(size_t*) block = capacity;
        return (char*) block + FL_HEADER;
    }
    static size_t fl_capacity(void* data) { return *(size_t*) ((char*) data - FL_HEADER); }

    /* Called with the lock held: return the oldest slot's block to the C library. */
    static int fl_evict_oldest(void) {
        int oldest = -1;
        for (int i = 0; i < FL_SLOTS; i++)
            if (fl_slots[i].block != NULL && (oldest < 0 || fl_slots[i].stamp < fl_slots[oldest].stamp))
                oldest = i;
        if (oldest < 0) return -1;
        free(fl_slots[oldest].block - FL_HEADER);
        fl_held -= fl_slots[oldest].capacity;
        fl_slots[oldest].block = NULL;
        return oldest;
    }

    static void* fl_cache_malloc(void* ctx, size_t size) {
        (void) ctx;
        if (size >= fl_min_bytes) {
            fl_acquire();
            for (int i = 0; i < FL_SLOTS; i++) {
                if (fl_slots[i].block != NULL && fl_slots[i].capacity == size) {
                    char* data = fl_slots[i].block;
                    fl_slots[i].block = NULL;
                    fl_held -= size;
                    fl_hits++;
                    fl_release_lock();
                    return data;
                }
            }
            fl_misses++;
            fl_release_lock();
        }
        return fl_new_block(size);
    }

    static void* fl_cache_calloc(void* ctx, size_t n, size_t size) {
        (void) ctx;
        if (size != 0 && n > SIZE_MAX / size) return NULL;
        void* data = fl_new_block(n * size);   /* never a cached block: it must read as zeros */
        if (data != NULL) memset(data, 0, n * size);
        return data;
    }

    static void fl_cache_free(void* ctx, void* data, size_t size) {
        (void) ctx; (void) size;
        if (data == NULL) return;
        size_t capacity = fl_capacity(data);
        if (capacity >= fl_min_bytes && capacity <= fl_limit) {
            fl_acquire();
            while (fl_held + capacity > fl_limit && fl_evict_oldest() >= 0) {}
            int slot = -1;
            for (int i = 0; i < FL_SLOTS && slot < 0; i++)
                if (fl_slots[i].block == NULL) slot = i;
            if (slot < 0) slot = fl_evict_oldest();
            fl_slots[slot].block = (char*) data;
            fl_slots[slot].capacity = capacity;
            fl_slots[slot].stamp = ++fl_clock;
            fl_held += capacity;
            fl_release_lock();
            return;
        }
        free((char*) data - FL_HEADER);
    }

    static void* fl_cache_realloc(void* ctx, void* data, size_t size) {
        if (data == NULL) return fl_cache_malloc(ctx, size);
        size_t capacity = fl_capacity(data);
        if (size <= capacity && size >= capacity / 2) return data;
        void* moved = fl_new_block(size);
        if (moved == NULL) return NULL;
        memcpy(moved, data, size < capacity ? size : capacity);
        fl_cache_free(ctx, data, capacity);
        return moved;
    }

    static PyDataMem_Handler fl_handler = {
        "fastloss_buffer_cache", 1,
        {NULL, fl_cache_malloc, fl_cache_calloc, fl_cache_realloc, fl_cache_free}
    };

    static PyObject* fl_handler_capsule(void) { return PyCapsule_New(&fl_handler, "mem_handler", NULL); }

    static void fl_set_limit(size_t limit) {
        fl_acquire();
        fl_limit = limit;
        while (fl_held > fl_limit && fl_evict_oldest() >= 0) {}
        fl_release_lock();
    }
    static void fl_release_all(void) {
        fl_acquire();
        while (fl_evict_oldest() >= 0) {}
        fl_release_lock();
    }
    """
    object fl_handler_capsule()
    void fl_set_limit(size_t limit) nogil
    void fl_release_all() nogil
    size_t fl_held
    size_t fl_limit
    size_t fl_min_bytes
    unsigned long long fl_hits
    unsigned long long fl_misses
    enum: FL_SLOTS

cdef extern from "numpy/arrayobject.h":
    object PyDataMem_SetHandler(object handler)

cimport numpy as cnp
cnp.import_array()

SLOTS = FL_SLOTS
MIN_BYTES = fl_min_bytes
_HANDLER = fl_handler_capsule()


def _default_limit():
    text = os.environ.get("FASTLOSS_CACHE_MB", "").strip()
    if not text:
        return 1024 << 20
    try:
        mb = float(text)
    except ValueError:
        raise ValueError(f"FASTLOSS_CACHE_MB must be a number of megabytes, got {text!r}") from None
    if not mb >= 0:
        raise ValueError(f"FASTLOSS_CACHE_MB must be >= 0, got {text!r}")
    return int(mb * (1 << 20))


def empty(shape, dtype, order="C"):
    """np.empty(shape, dtype, order), from the cache when the array is large enough to be kept."""
    cdef object previous
    dtype = np.dtype(dtype)
    n = dtype.itemsize
    for d in (shape if isinstance(shape, tuple) else (shape,)):
        n *= d
    if n < MIN_BYTES or fl_limit == 0:
        return np.empty(shape, dtype=dtype, order=order)
    previous = PyDataMem_SetHandler(_HANDLER)
    try:
        return np.empty(shape, dtype=dtype, order=order)
    finally:
        PyDataMem_SetHandler(previous)


def set_limit(Py_ssize_t nbytes):
    """Keep at most nbytes of freed outputs (0: none); blocks beyond it are released now."""
    if nbytes < 0:
        raise ValueError(f"the cache limit must be >= 0 bytes, got {nbytes}")
    fl_set_limit(<size_t> nbytes)


def release():
    """Return every cached block to the C library."""
    fl_release_all()


def info():
    """{"held": bytes kept now, "limit": bytes, "hits": reuses, "misses": new blocks} (blocks of
    at least MIN_BYTES; the counts since the process started)."""
    return {"held": fl_held, "limit": fl_limit, "hits": fl_hits, "misses": fl_misses,
            "slots": SLOTS, "min_bytes": MIN_BYTES}


set_limit(_default_limit())
