/*
 * json_num.h — JSON numbers (and whitespace) for both JSON decoders: json_tape.c (the engine's, off the
 * caller's thread) and src/py/json.c (the binding's). Header-only (static inline), so that
 * each decoder's number loop is compiled into it; no Python.h.
 *
 * hr__json_number() scans one number against JSON's grammar and converts it: integers of up
 * to 18 digits exactly; floats by Clinger's exact fast path, then Eisel-Lemire (128-bit
 * powers of ten from json_pow5.h, made by gen_pow5.py). What those cannot decide -- longer
 * integers, floats that need the exact algorithm -- is reported as "slow", with the text's
 * extent, for the caller's exact parser (the binding's: PyLong_FromString and
 * PyOS_string_to_double, what json uses).
 */
#ifndef HR_JSON_NUM_H
#define HR_JSON_NUM_H

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "json_pow5.h"

#define HR_JSON_SMALL_INT_DIGITS 18    /* 10^18 - 1 fits an int64_t */
#define HR_JSON_MAX_MANTISSA_DIGITS 19 /* 10^19 - 1 fits a uint64_t */
#define HR_JSON_EXP_SATURATED 100000000 /* exponents from here on go to the exact parser */

/* ---------------------------------------------------------------------------------------- */
/* bits                                                                                     */

/* Eight input bytes are read as one word where the byte order allows it (SWAR: "SIMD within
 * a register"); elsewhere the byte loops alone run. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HR_JSON_SWAR 1
#endif

typedef struct {
    uint64_t hi, lo;
} u128_t;

static inline u128_t mul_64x64(uint64_t a, uint64_t b)
{
    u128_t r;
#if defined(__SIZEOF_INT128__)
    unsigned __int128 x = (unsigned __int128)a * b;
    r.hi = (uint64_t)(x >> 64);
    r.lo = (uint64_t)x;
#else
    /* schoolbook on 32-bit halves */
    uint64_t a0 = (uint32_t)a, a1 = a >> 32, b0 = (uint32_t)b, b1 = b >> 32;
    uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
    uint64_t mid = (p00 >> 32) + (uint32_t)p01 + (uint32_t)p10;
    r.lo = (mid << 32) | (uint32_t)p00;
    r.hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
#endif
    return r;
}

static inline int clz64(uint64_t x) /* x != 0 */
{
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_clzll(x);
#else
    int n = 0;
    while (!(x & 0x8000000000000000u)) {
        x <<= 1;
        n++;
    }
    return n;
#endif
}

static inline int ctz64(uint64_t x) /* x != 0 */
{
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_ctzll(x);
#else
    int n = 0;
    while (!(x & 1)) {
        x >>= 1;
        n++;
    }
    return n;
#endif
}

/* ---------------------------------------------------------------------------------------- */
/* numbers                                                                                  */

/* floor(log2(10^q)) for |q| <= 400; gen_pow5.py proves the formula on the table's range.
 * (Written without >> on a negative number, whose result C leaves to the implementation.) */
static inline int floor_log2_pow10(int q)
{
    int32_t x = q * 217706;
    return x >= 0 ? x / 65536 : -((-x + 65535) / 65536);
}

/* Eisel-Lemire: the double nearest to w * 10^q (w != 0), positive, when 128 bits of the
 * power of ten are enough to round correctly. Returns 1 and sets *out, or 0 when it cannot
 * decide (possible halfway case, subnormal or overflowing result): the caller then asks
 * the exact algorithm.
 *
 * Why it is right: T = HR_POW10[q] is 10^q * 2^s rounded down, so the exact product
 * w * 10^q * 2^s lies in [w*T, w*T + w). With w normalised to 64 bits, the top 64 bits of
 * w*T hold the 53-bit mantissa, a rounding bit and 9 or 10 more bits. The low part can
 * only carry into the mantissa if those 9 bits are all ones and adding w overflows the low
 * word: then the next 64 bits of the power are used, and if a carry is still possible we
 * give up. Rounding is decided by the rounding bit, except an exact tie: when every bit
 * below it is zero in the (possibly low) estimate, the true value may be the tie or just
 * above it, so we give up too. */
static inline int eisel_lemire(uint64_t w, int q, double *out)
{
    if (q < HR_POW10_MIN) {
        *out = 0.0; /* w * 10^q < 10^19 * 10^-343: less than half the smallest subnormal */
        return 1;
    }
    if (q > HR_POW10_MAX) {
        *out = HUGE_VAL; /* w * 10^q >= 10^309 */
        return 1;
    }
    int lz = clz64(w);
    w <<= lz;
    const uint64_t *t = HR_POW10[q - HR_POW10_MIN];
    u128_t x = mul_64x64(w, t[0]);
    if ((x.hi & 0x1FF) == 0x1FF && x.lo + w < x.lo) {
        u128_t y = mul_64x64(w, t[1]);
        uint64_t lo = x.lo + y.hi;
        uint64_t hi = x.hi + (lo < x.lo);
        if ((hi & 0x1FF) == 0x1FF && lo == UINT64_MAX && y.lo + w < y.lo)
            return 0;
        x.hi = hi;
        x.lo = lo;
    }
    /* w*T >= 2^63 * 2^127, so bit 63 or bit 62 of x.hi is the leading one */
    int msb = (int)(x.hi >> 63);
    uint64_t m = x.hi >> (msb + 9); /* 54 bits: the mantissa and the rounding bit */
    int e2 = floor_log2_pow10(q) + 64 + 1023 - lz - (1 - msb);
    if (x.lo == 0 && (x.hi & 0x1FF) == 0 && (m & 3) == 1)
        return 0; /* maybe exactly halfway with an even mantissa: which way is unknown */
    m = (m + (m & 1)) >> 1; /* round half up; an exact tie with an odd mantissa goes to even */
    if (m >> 53) {          /* rounding carried into a new bit */
        m >>= 1;
        e2++;
    }
    if (e2 <= 0 || e2 >= 0x7FF)
        return 0; /* subnormal or infinite: rare, left to the exact algorithm */
    uint64_t bits = (uint64_t)e2 << 52 | (m & ((UINT64_C(1) << 52) - 1));
    memcpy(out, &bits, sizeof bits);
    return 1;
}

/* Exact powers of ten as doubles (10^22 is the last one with a 53-bit odd part). */
static const double POW10_EXACT[] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* w * 10^q (w != 0 unless exact), positive. truncated means digits after the 19 kept in w
 * were dropped and were not all zero: the value lies strictly between w and w + 1 times
 * 10^q. Returns 1 and sets *out, or 0 for "ask the exact algorithm". */
static inline int decimal_to_double(uint64_t w, int q, bool truncated, double *out)
{
    if (w == 0) {
        *out = 0.0;
        return 1;
    }
    if (!truncated) {
#if FLT_EVAL_METHOD == 0
        /* Clinger: both operands exact, and one IEEE operation rounds correctly */
        if (w <= UINT64_C(1) << 53 && q >= -22 && q <= 22) {
            double d = (double)w;
            *out = q < 0 ? d / POW10_EXACT[-q] : d * POW10_EXACT[q];
            return 1;
        }
#endif
        return eisel_lemire(w, q, out);
    }
    /* the value is between the two bounds: when both round to the same double, so does it */
    double a, b;
    if (eisel_lemire(w, q, &a) && eisel_lemire(w + 1, q, &b) && a == b) {
        *out = a;
        return 1;
    }
    return 0;
}


static inline bool is_digit(unsigned c)
{
    return c - '0' < 10;
}

#ifdef HR_JSON_SWAR
/* How many of the eight bytes in v, from the first, are ASCII digits. A byte's top bit ends
 * up set in one of the two terms exactly when the byte is not a digit: above '9' (+0x46
 * reaches 0x80, or wraps past 0xFF for 0xBA up, where -0x30 leaves the top bit set) or below
 * '0' (-0x30 wraps). Carries and borrows only leave non-digit bytes, so they may flag bytes
 * after the first non-digit, never before it. */
static inline int leading_digits(uint64_t v)
{
    uint64_t flags = ((v + UINT64_C(0x4646464646464646)) | (v - UINT64_C(0x3030303030303030))) &
                     UINT64_C(0x8080808080808080);
    return flags == 0 ? 8 : ctz64(flags) / 8;
}

/* The value of eight ASCII digits in a little-endian word, first digit most significant,
 * in three multiplications: digits d0..d7
 * become the pairs d0d1, d2d3, d4d5, d6d7 in bytes 0, 2, 4, 6; each multiplication then
 * weighs two pairs at once, and the sum lands in the high 32 bits. */
static inline uint32_t eight_digits(uint64_t v)
{
    v -= UINT64_C(0x3030303030303030);
    v = v * 10 + (v >> 8); /* byte i = 10 * d_i + d_(i+1) <= 99: no carry between bytes */
    const uint64_t pairs = UINT64_C(0x000000FF000000FF);
    uint64_t p02 = (v & pairs) * (100 + (UINT64_C(1000000) << 32));
    uint64_t p13 = ((v >> 16) & pairs) * (1 + (UINT64_C(10000) << 32));
    return (uint32_t)((p02 + p13) >> 32);
}

static const uint64_t POW10_U64[] = {
    1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000,
};
#endif

/* Appends the digits at p to *w, in decimal; returns the end of the digits. Past 19 digits
 * *w wraps around: callers count the digits and use significand_slow() for long ones. */
static inline const unsigned char *eat_digits(const unsigned char *p, const unsigned char *end,
                                              uint64_t *w)
{
    uint64_t v = *w;
#ifdef HR_JSON_SWAR
    /* eight bytes at a time: a run of n < 8 digits is moved to the top of the word, zeros
     * ('0' bytes) fill the bottom, and the eight-digit conversion gives its value */
    while (end - p >= 8) {
        uint64_t chunk;
        memcpy(&chunk, p, 8);
        int n = leading_digits(chunk);
        if (n == 8) {
            v = v * 100000000 + eight_digits(chunk);
            p += 8;
            continue;
        }
        if (n > 0) {
            int pad = 8 * (8 - n);
            uint64_t zeros = UINT64_C(0x3030303030303030) & ((UINT64_C(1) << pad) - 1);
            v = v * POW10_U64[n] + eight_digits(chunk << pad | zeros);
            p += n;
        }
        *w = v;
        return p;
    }
#endif
    for (; p < end && is_digit(*p); p++)
        v = v * 10 + (*p - '0');
    *w = v;
    return p;
}

/* The first 19 significant digits of the digits in [s, e) (a '.' may sit among them) as
 * *w * 10^*exp10; *truncated when a non-zero digit was dropped. For more than 19 digits. */
static inline void significand_slow(const unsigned char *s, const unsigned char *e, uint64_t *w,
                             int64_t *exp10, bool *truncated)
{
    uint64_t v = 0;
    int sig = 0;
    int64_t x = 0;
    bool in_frac = false, trunc = false;
    for (; s < e; s++) {
        if (*s == '.') {
            in_frac = true;
            continue;
        }
        unsigned d = *s - '0';
        if (sig < HR_JSON_MAX_MANTISSA_DIGITS) {
            v = v * 10 + d;
            sig += v != 0; /* zeros before the first significant digit do not count */
            x -= in_frac;
        } else {
            x += !in_frac;
            trunc |= d != 0;
        }
    }
    *w = v;
    *exp10 = x;
    *truncated = trunc;
}

/* Past the whitespace at p. JSON's is exactly these four; json rejects any other (form feed,
 * NBSP, ...). */
static inline const unsigned char *hr__json_skip_ws(const unsigned char *p,
                                                    const unsigned char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

typedef enum {
    HR_JNUM_INVALID = 0,
    HR_JNUM_INT,        /* *i */
    HR_JNUM_FLOAT,      /* *d */
    HR_JNUM_SLOW_INT,   /* the text: more than 18 digits */
    HR_JNUM_SLOW_FLOAT, /* the text: for the exact algorithm */
} hr_jnum_kind_t;

/* The number at p (p < end, *p is '-' or a digit): -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?,
 * or -Infinity. Returns its kind and sets *endp past it (not for HR_JNUM_INVALID). */
static inline hr_jnum_kind_t hr__json_number(const unsigned char *p, const unsigned char *end,
                                             const unsigned char **endp, int64_t *i, double *d)
{
    bool neg = *p == '-';
    if (neg) {
        p++;
        if (end - p >= 8 && memcmp(p, "Infinity", 8) == 0) {
            *endp = p + 8;
            *d = -HUGE_VAL;
            return HR_JNUM_FLOAT;
        }
    }
    if (p == end || !is_digit(*p))
        return HR_JNUM_INVALID;

    /* the digits, all of them, go into w (exact up to 19 of them) */
    uint64_t w = 0;
    const unsigned char *int_start = p;
    if (*p == '0')
        p++; /* no leading zeros: a digit after it ends the number (and the document) */
    else
        p = eat_digits(p, end, &w);
    ptrdiff_t int_digits = p - int_start, frac_digits = 0;
    const unsigned char *digits_end = p;

    bool is_float = false;
    if (p < end && *p == '.') {
        p++;
        const unsigned char *frac_start = p;
        p = eat_digits(p, end, &w);
        frac_digits = p - frac_start;
        if (frac_digits == 0)
            return HR_JNUM_INVALID;
        is_float = true;
        digits_end = p;
    }
    int64_t e = 0;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        bool eneg = false;
        if (p < end && (*p == '+' || *p == '-'))
            eneg = *p++ == '-';
        if (p == end || !is_digit(*p))
            return HR_JNUM_INVALID;
        is_float = true;
        for (; p < end && is_digit(*p); p++) {
            if (e < HR_JSON_EXP_SATURATED)
                e = e * 10 + (*p - '0');
        }
        if (e >= HR_JSON_EXP_SATURATED) {
            *endp = p;
            return HR_JNUM_SLOW_FLOAT; /* absurd: keep the arithmetic simple */
        }
        if (eneg)
            e = -e;
    }
    *endp = p;

    if (!is_float) {
        if (int_digits <= HR_JSON_SMALL_INT_DIGITS) {
            *i = neg ? -(int64_t)w : (int64_t)w;
            return HR_JNUM_INT;
        }
        return HR_JNUM_SLOW_INT;
    }
    int64_t exp10 = -frac_digits;
    bool truncated = false;
    if (int_digits + frac_digits > HR_JSON_MAX_MANTISSA_DIGITS)
        significand_slow(int_start, digits_end, &w, &exp10, &truncated);
    exp10 += e;
    /* |exp10| <= digits + 10^8: clamping far outside the table's range changes nothing */
    int q = exp10 < -100000 ? -100000 : exp10 > 100000 ? 100000 : (int)exp10;
    double v;
    if (!decimal_to_double(w, q, truncated, &v))
        return HR_JNUM_SLOW_FLOAT;
    *d = neg ? -v : v;
    return HR_JNUM_FLOAT;
}

#endif /* HR_JSON_NUM_H */
