// memcpy, memmove and memset for the port (the other string functions come
// from musl's libc.a). Spans of 64 bytes and more move through the four
// SSE registers a loop iteration: under QEMU TCG every iteration of a loop
// (or of a REP string instruction) costs a translation-block chain, far
// more than its stores, so bytes per iteration set the speed. Zeroing a
// fresh 2 MiB block of guest RAM and copying a guest kernel into it are
// the hot users. Shorter spans with both ends 4-byte aligned go 4 bytes at
// a time, as MicroPython's string0.c did: a copy of a device register
// through hw.mem (a local APIC register: 32-bit accesses only, SDM 3A
// 11.4.1) reads it whole. 64-bit ring 0; the host's SSE state is the C
// code's (port/fpu.h).
#include <stddef.h>
#include <stdint.h>
#include <emmintrin.h>

// Keep GCC from turning the byte loops below back into calls to these.
#define NO_LIBCALLS __attribute__((optimize("no-tree-loop-distribute-patterns")))
typedef uint32_t __attribute__((may_alias)) word_t;

NO_LIBCALLS void *memset(void *s, int c, size_t n) {
    uint8_t *p = s;
    if (n >= 64) {
        while ((uintptr_t)p & 15) {
            *p++ = (uint8_t)c;
            n--;
        }
        __m128i v = _mm_set1_epi8((char)c);
        for (; n >= 64; n -= 64, p += 64) {
            _mm_store_si128((__m128i *)p, v);
            _mm_store_si128((__m128i *)(p + 16), v);
            _mm_store_si128((__m128i *)(p + 32), v);
            _mm_store_si128((__m128i *)(p + 48), v);
        }
    }
    if (!((uintptr_t)p & 3)) {
        uint32_t w = (uint8_t)c * 0x01010101u;
        for (; n >= 4; n -= 4, p += 4) {
            *(word_t *)p = w;
        }
    }
    while (n--) {
        *p++ = (uint8_t)c;
    }
    return s;
}

// Forwards, 64 bytes an iteration, the destination aligned: also right for
// an overlap where dst is below src (memmove).
NO_LIBCALLS static void copy_up(uint8_t *d, const uint8_t *s, size_t n) {
    if (n >= 64) {
        while ((uintptr_t)d & 15) {
            *d++ = *s++;
            n--;
        }
        for (; n >= 64; n -= 64, d += 64, s += 64) {
            __m128i a = _mm_loadu_si128((const __m128i *)s);
            __m128i b = _mm_loadu_si128((const __m128i *)(s + 16));
            __m128i c = _mm_loadu_si128((const __m128i *)(s + 32));
            __m128i e = _mm_loadu_si128((const __m128i *)(s + 48));
            _mm_store_si128((__m128i *)d, a);
            _mm_store_si128((__m128i *)(d + 16), b);
            _mm_store_si128((__m128i *)(d + 32), c);
            _mm_store_si128((__m128i *)(d + 48), e);
        }
    }
    if (!(((uintptr_t)d | (uintptr_t)s) & 3)) {
        for (; n >= 4; n -= 4, d += 4, s += 4) {
            *(word_t *)d = *(const word_t *)s;
        }
    }
    while (n--) {
        *d++ = *s++;
    }
}

// Backwards from the ends: an overlap where dst is above src.
NO_LIBCALLS static void copy_down(uint8_t *d, const uint8_t *s, size_t n) {
    d += n;
    s += n;
    if (n >= 64) {
        while ((uintptr_t)d & 15) {
            *--d = *--s;
            n--;
        }
        for (; n >= 64; n -= 64) {
            d -= 64;
            s -= 64;
            __m128i a = _mm_loadu_si128((const __m128i *)(s + 48));
            __m128i b = _mm_loadu_si128((const __m128i *)(s + 32));
            __m128i c = _mm_loadu_si128((const __m128i *)(s + 16));
            __m128i e = _mm_loadu_si128((const __m128i *)s);
            _mm_store_si128((__m128i *)(d + 48), a);
            _mm_store_si128((__m128i *)(d + 32), b);
            _mm_store_si128((__m128i *)(d + 16), c);
            _mm_store_si128((__m128i *)d, e);
        }
    }
    if (!(((uintptr_t)d | (uintptr_t)s) & 3)) {
        for (; n >= 4; n -= 4) {
            d -= 4;
            s -= 4;
            *(word_t *)d = *(const word_t *)s;
        }
    }
    while (n--) {
        *--d = *--s;
    }
}

void *memcpy(void *restrict dst, const void *restrict src, size_t n) {
    copy_up(dst, src, n);
    return dst;
}

// MicroPython's slice store moves the tail of the object stored into onto
// itself when the slice keeps its length (py/sequence.h,
// mp_seq_replace_slice_no_grow): dst == src costs nothing here, so a store
// of a page into a view of 2 MiB no longer moves the 2 MiB after it.
void *memmove(void *dst, const void *src, size_t n) {
    if (dst == src) {
        return dst;
    }
    if ((uintptr_t)dst - (uintptr_t)src >= n) {
        copy_up(dst, src, n);       // dst below src, or no overlap
    } else {
        copy_down(dst, src, n);
    }
    return dst;
}
