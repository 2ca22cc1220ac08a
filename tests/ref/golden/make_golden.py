#!/usr/bin/env python3
"""Generate tests/ref/golden/ghaffari.h and shiftquant.h: golden vectors for
test_recipe.c.

The expected integers come from the executable Python model of the recipes
specification (../shared/spec/recipes-proto/: spec.py, norm.py, more.py),
imported from its own directory, never copied. Where the model has no
function for a rule (running statistics, evaluation, the SGD step as one
function, schedules, master init, SRdiv), this script composes one from the
model's primitives, written from the text of recipes.md (section cited).

Usage: python3 tests/ref/golden/make_golden.py [PROTO_DIR] > tests/ref/golden/ghaffari.h
       python3 tests/ref/golden/make_golden.py --shiftquant [PROTO_DIR] > tests/ref/golden/shiftquant.h
       python3 tests/ref/golden/make_golden.py --unified [PROTO_DIR] > tests/ref/golden/unified.h
(PROTO_DIR defaults to $NIT_RECIPES_PROTO or /work/shared/spec/recipes-proto).
The output is deterministic (fixed seeds); regenerate only when the
specification changes, and review the diff.
"""
import math
import os
import random
import sys

ARGS = [a for a in sys.argv[1:] if a not in ("--shiftquant", "--unified")]
SHIFTQUANT = "--shiftquant" in sys.argv[1:]
UNIFIED = "--unified" in sys.argv[1:]
PROTO = (ARGS[0] if ARGS else
         os.environ.get("NIT_RECIPES_PROTO", "/work/shared/spec/recipes-proto"))
sys.path.insert(0, PROTO)
import spec  # noqa: E402
from spec import (B, Bt, R, sat, snorm, smul, sadd, sdiv, srsqrt, sfromdec, ONE, q30,  # noqa: E402
                  exp2neg_q30, cos_factor_q30, lincomb, nkey, ndraw, R_near,
                  PSEUDO, STOCH, NEAREST, EXP2NEG_Q30, COSHALF_Q30, LOG2E_Q30, SQRT_PI_2_Q30)
import norm  # noqa: E402
import more  # noqa: E402

M64 = (1 << 64) - 1
out = []


def emit(s=""):
    out.append(s)


def c64(v):
    """A C literal for a signed 64-bit value."""
    assert -(1 << 63) <= v < (1 << 63), v
    if v == -(1 << 63):
        return "INT64_MIN"
    if -(1 << 31) < v < (1 << 31):
        return "%d" % v
    return "%dLL" % v


def cu64(v):
    assert 0 <= v <= M64
    return "0x%016XULL" % v


def sdec(n, f):
    """sdec with 0 -> (0, 0) (the model's sfromdec needs N > 0)."""
    return (0, 0) if n == 0 else sfromdec(n, f)


def sneg(a):
    return (-a[0], a[1])


class Pool:
    """One int64 pool per golden family: variable-length data by offset."""

    def __init__(self, name):
        self.name, self.data = name, []

    def add(self, vals):
        off = len(self.data)
        self.data.extend(int(v) for v in vals)
        return off

    def write(self):
        emit("static const int64_t %s[] = {" % self.name)
        for i in range(0, len(self.data), 16):
            emit("  " + ",".join(c64(v) for v in self.data[i:i + 16]) + ",")
        if not self.data:
            emit("  0,")
        emit("};")


def rand_scalar(rng, zero=0.05, erange=100):
    if rng.random() < zero:
        return (0, 0)
    m = rng.randrange(1 << 30, 1 << 31)
    return (m if rng.random() < 0.5 else -m, rng.randint(-erange, erange))


# ------------------------------------------------------------------ tables

def check_tables():
    # EXP2NEG with exact integers (Appendix A): (2E-1)^64 2^j < 2^1984 < (2E+1)^64 2^j
    for j, e in enumerate(EXP2NEG_Q30):
        assert (2 * e - 1) ** 64 * 2 ** j < 2 ** 1984 < (2 * e + 1) ** 64 * 2 ** j, j
    import mpmath as mp
    mp.mp.dps = 60
    for j, c in enumerate(COSHALF_Q30):
        assert c == int(mp.floor(mp.mpf(2) ** 30 * (1 + mp.cos(mp.pi * j / 64)) / 2 + mp.mpf(1) / 2)), j
    assert LOG2E_Q30 == int(mp.floor(mp.mpf(2) ** 30 / mp.log(2) + mp.mpf(1) / 2))
    assert SQRT_PI_2_Q30 == int(mp.floor(mp.mpf(2) ** 30 * mp.sqrt(mp.pi / 2) + mp.mpf(1) / 2))
    emit("/* Appendix A, checked with exact integers (EXP2NEG) and 60 digits (COSHALF) */")
    emit("static const int32_t G_EXP2NEG[65] = {%s};" % ", ".join(map(str, EXP2NEG_Q30)))
    emit("static const int32_t G_COSHALF[65] = {%s};" % ", ".join(map(str, COSHALF_Q30)))


# ----------------------------------------------------------------- scalars

def scalars(rng):
    emit("/* sdec (R§2.1): 1000 random decimals N / 10^f; q30/q16 of the same */")
    emit("typedef struct { uint64_t n; int f; int64_t m; int32_t e; int64_t q30, q16; } GSdec;")
    emit("static const GSdec G_SDEC[] = {")
    for i in range(1000):
        f = rng.randint(0, 9)
        n = rng.randrange(1, 10 ** rng.randint(1, 18))
        m, e = sfromdec(n, f)
        q30v = (2 * n * 2 ** 30 + 10 ** f) // (2 * 10 ** f)
        q16v = (2 * n * 2 ** 16 + 10 ** f) // (2 * 10 ** f)
        if q30v >= 1 << 63:
            q30v = -1  # out of int64: not compared
        if q16v >= 1 << 63:
            q16v = -1
        emit("  {%sULL, %d, %d, %d, %s, %s}," % (n, f, m, e, c64(q30v), c64(q16v)))
    emit("};")

    emit("/* snorm of random 127-bit integers: |P| = hi 2^64 + lo */")
    emit("typedef struct { uint64_t hi, lo; int neg; int64_t e_in; int64_t m; int32_t e; } GSnorm;")
    emit("static const GSnorm G_SNORM[] = {")
    for i in range(400):
        b = rng.randint(1, 127)
        a = rng.randrange(1 << (b - 1), 1 << b)
        if i % 7 == 0:  # values that round up to 2^31 and renormalize
            sh = max(0, b - 32)
            a = (((1 << 31) - 1) << sh | ((1 << sh) - 1)) if b >= 32 else a
        neg = rng.random() < 0.5
        E = rng.randint(-200, 200)
        m, e = snorm(-a if neg else a, E)
        emit("  {%s, %s, %d, %d, %d, %d}," % (cu64(a >> 64), cu64(a & M64), int(neg), E, m, e))
    emit("};")

    emit("/* smul, sadd, sdiv of random pairs (sdiv only when b != 0) */")
    emit("typedef struct { int64_t am; int32_t ae; int64_t bm; int32_t be; int64_t mm; int32_t me;"
         " int64_t sm; int32_t se; int64_t dm; int32_t de; } GSop;")
    emit("static const GSop G_SOP[] = {")
    for i in range(1000):
        a = rand_scalar(rng)
        b = rand_scalar(rng)
        if i % 5 == 0:  # close exponents: sadd rounding, cancellation
            b = (b[0], a[1] + rng.randint(-3, 3))
        if i % 11 == 0:  # gaps around 62
            b = (b[0] or (1 << 30), a[1] + rng.choice([-63, -62, 62, 63, 64]))
        if i % 13 == 0 and a[0]:
            b = (-a[0], a[1])  # exact cancellation
        mm = smul(a, b)
        sm = sadd(a, b)
        dm = sdiv(a, b) if b[0] else (0, 0)
        emit("  {%d, %d, %d, %d, %d, %d, %d, %d, %d, %d}," % (a + b + mm + sm + dm))
    emit("};")

    emit("/* srsqrt of random positive scalars */")
    emit("typedef struct { int64_t am; int32_t ae; int64_t rm; int32_t re; } GSrsqrt;")
    emit("static const GSrsqrt G_SRSQRT[] = {")
    for i in range(500):
        a = (rng.randrange(1 << 30, 1 << 31), rng.randint(-150, 150))
        if i < 40:
            a = snorm(rng.randint(1, 1 << 20), 0)
        r = srsqrt(a)
        emit("  {%d, %d, %d, %d}," % (a + r))
    emit("};")

    emit("/* sq30 of random scalars below 2 in magnitude */")
    emit("typedef struct { int64_t am; int32_t ae; int64_t q; } GSq30;")
    emit("static const GSq30 G_SQ30[] = {")
    for i in range(300):
        a = (rng.choice([-1, 1]) * rng.randrange(1 << 30, 1 << 31), rng.randint(-100, -30))
        emit("  {%d, %d, %d}," % (a[0], a[1], q30(a)))
    emit("};")

    emit("/* isqrt of random 128-bit values (Python's math.isqrt) */")
    emit("typedef struct { uint64_t hi, lo, r; } GIsqrt;")
    emit("static const GIsqrt G_ISQRT[] = {")
    for i in range(300):
        b = rng.randint(1, 128)
        v = rng.randrange(1 << (b - 1), 1 << b)
        if i % 9 == 0:
            r0 = rng.randrange(1, 1 << 64)
            v = r0 * r0 - rng.choice([0, 1])  # at and just below squares
        v = min(v, (1 << 128) - 1)
        emit("  {%s, %s, %s}," % (cu64(v >> 64), cu64(v & M64), cu64(math.isqrt(v))))
    emit("};")


def tables_interp(rng):
    emit("/* exp2neg at random Y, cosq at random (p, T) */")
    emit("typedef struct { int64_t y, v; } GExp2neg;")
    emit("static const GExp2neg G_EXP2NEG_AT[] = {")
    for i in range(400):
        y = rng.randrange(0, 33 << 16) if i % 4 else rng.randrange(0, 1 << 40)
        emit("  {%d, %d}," % (y, exp2neg_q30(y)))
    emit("};")
    emit("typedef struct { int64_t p, t, v; } GCosq;")
    emit("static const GCosq G_COSQ_AT[] = {")
    for i in range(400):
        t = rng.randint(1, 10 ** rng.randint(1, 9))
        p = rng.randint(0, t)
        emit("  {%d, %d, %d}," % (p, t, cos_factor_q30(p, t)))
    emit("};")


# --------------------------------------------------------- RQ, SRdiv, LINSUM

def rq_cases(rng, pool):
    emit("/* RQ_b (R§1.1) in every mode: x at pool[x], out at pool[o] */")
    emit("typedef struct { int b, mode; uint64_t key; int64_t count, x, o; int k; } GRq;")
    emit("static const GRq G_RQ[] = {")
    for i in range(120):
        b = rng.choice([2, 3, 4, 8, 8, 16, 31, 32])
        mode = i % 3
        key = nkey(rng.randrange(1 << 32), rng.randrange(1 << 20), rng.randrange(1 << 32))
        cnt = rng.randint(1, 20)
        top = rng.randint(0, 62)
        x = [rng.randint(-(1 << top), 1 << top) for _ in range(cnt)]
        if i % 17 == 0:
            x = [0] * cnt
        k = max(0, Bt(x) - (b - 1))
        lim = (1 << (b - 1)) - 1
        o = [sat(R(v, k, mode, key, j), lim) for j, v in enumerate(x)]
        emit("  {%d, %d, %s, %d, %d, %d, %d}," % (b, mode, cu64(key), cnt, pool.add(x), pool.add(o), k))
    emit("};")


def srdiv_cases(rng):
    emit("/* SRdiv (R§2.4), written from the text with the model's ndraw */")
    emit("typedef struct { uint64_t a, d, key, j, q; } GSrdiv;")
    emit("static const GSrdiv G_SRDIV[] = {")
    for i in range(300):
        d = rng.randrange(1, 1 << rng.randint(1, 64))
        a = rng.randrange(0, 1 << rng.randint(1, 64))
        key = nkey(7, i, 9)
        j = rng.randrange(0, 1 << 20)
        q0, f = divmod(a, d)
        q = q0 + (1 if (f << 64) > ndraw(key, j) * d else 0)
        emit("  {%s, %s, %s, %d, %s}," % (cu64(a), cu64(d), cu64(key), j, cu64(q)))
    emit("};")


def linsum_cases(rng, pool):
    emit("/* LINSUM / LINCOMB (R§2.6) through the model's lincomb. Term t of a case:")
    emit(" * u at pool[u] (or constant 1 when u < 0), exponent s, coefficients")
    emit(" * (m, e) pairs at pool[c] (ncoef of them), element j uses (j / div) % ncoef.")
    emit(" * sum/w: LINSUM (the model with 64 output bits keeps S exactly);")
    emit(" * out/wo: LINCOMB_b in `mode` with `key`. */")
    emit("typedef struct { int64_t u, s, c, ncoef, div; } GTerm;")
    emit("typedef struct { int nterms; GTerm t[4]; int64_t count; int b, mode; uint64_t key;"
         " int64_t sum, w, out, wo; } GLinsum;")
    emit("static const GLinsum G_LINSUM[] = {")
    for i in range(200):
        cnt = rng.randint(1, 16)
        nt = rng.randint(1, 4)
        terms, model_terms = [], []
        base = rng.randint(-60, 60)
        for t in range(nt):
            if rng.random() < 0.2:
                u = None
            else:
                top = rng.choice([1, 4, 8, 16, 31, 40, 47])
                lim = (1 << top) - 1
                u = [rng.randint(-lim, lim) for _ in range(cnt)]
                if rng.random() < 0.1:
                    u = [0] * cnt
            gap = rng.choice([0, 1, 5, 20, 40, 60, 90, 200]) if i % 2 else rng.randint(0, 8)
            s = base + rng.choice([-1, 1]) * gap
            ncoef = rng.choice([1, 1, 2, 3, cnt])
            div = rng.choice([1, 2, 4]) if ncoef > 1 else 1
            cs = [rand_scalar(rng, zero=0.15, erange=40) for _ in range(ncoef)]
            terms.append((u, s, cs, ncoef, div))
            per_el = [cs[(j // div) % ncoef] for j in range(cnt)]
            model_terms.append((per_el, u, s))
        S, W = lincomb(model_terms, cnt, 64, NEAREST, 0, group_of=lambda j: j)
        b = rng.choice([4, 8, 16, 32])
        mode = rng.choice([PSEUDO, STOCH, NEAREST])
        key = nkey(3, i, 77)
        O, Wo = lincomb(model_terms, cnt, b, mode, key, group_of=lambda j: j)
        gt = []
        for (u, s, cs, ncoef, div) in terms:
            uo = -1 if u is None else pool.add(u)
            co = pool.add([v for c in cs for v in c])
            gt.append("{%d, %d, %d, %d, %d}" % (uo, s, co, ncoef, div))
        while len(gt) < 4:
            gt.append("{-1, 0, 0, 1, 1}")
        emit("  {%d, {%s}, %d, %d, %d, %s, %d, %d, %d, %d}," % (
            nt, ", ".join(gt), cnt, b, mode, cu64(key), pool.add(S), W, pool.add(O), Wo))
    emit("};")


# -------------------------------------------------------------------- loss

def softmax_cases(rng, pool):
    emit("/* table softmax rows (R§5) through the model's tsoftmax_row32 */")
    emit("typedef struct { int s, classes, y; int64_t a, e32; } GTsm;")
    emit("static const GTsm G_TSM[] = {")
    for i in range(200):
        s = rng.randint(-90, 40)
        n = rng.choice([1, 2, 3, 10, 10, 37, 100]) if i % 100 else 1000
        a = [rng.randint(-127, 127) for _ in range(n)]
        y = rng.randrange(n)
        e32, u, U, t = more.tsoftmax_row32(a, s, y)
        assert sum(e32) == 0
        emit("  {%d, %d, %d, %d, %d}," % (s, n, y, pool.add(a), pool.add(e32)))
    emit("};")
    emit("/* the batch loss gradient: EQ = RQ_8 (stochastic) at site LOSS */")
    emit("typedef struct { int s, n, classes; uint64_t key; int64_t a, y, e; int exp; } GLoss;")
    emit("static const GLoss G_LOSS[] = {")
    for i in range(20):
        s = rng.randint(-12, 4)
        nb, nc = rng.randint(1, 8), rng.choice([2, 10, 37])
        a = [rng.randint(-127, 127) for _ in range(nb * nc)]
        ys = [rng.randrange(nc) for _ in range(nb)]
        key = nkey(5, i, 0xFFFF0001)
        rows = []
        for r in range(nb):
            rows += more.tsoftmax_row32(a[r * nc:(r + 1) * nc], s, ys[r])[0]
        k = max(0, Bt(rows) - 7)
        e = [sat(R(v, k, STOCH, key, j), 127) for j, v in enumerate(rows)]
        emit("  {%d, %d, %d, %s, %d, %d, %d, %d}," % (s, nb, nc, cu64(key), pool.add(a), pool.add(ys),
                                                      pool.add(e), -15 + k))
    emit("};")


# ------------------------------------------------------------------ SGD

def sgd_step_model(W, sW, V, sV, G, sG, n, eta, mom, dec, A, mode, k1, k2):
    """R§6.3 composed from the model's lincomb."""
    inv = sdiv(ONE, snorm(n, 0))
    cnt = len(W)
    V1, sV1 = lincomb([(mom, V, sV), (inv, G, sG), (dec, W, sW)], cnt, A, mode, k1)
    W1, sW1 = lincomb([(ONE, W, sW), (sneg(eta), V1, sV1)], cnt, A, mode, k2)
    return W1, sW1, V1, sV1


def sgd_cases(rng, pool):
    emit("/* SGD steps (R§6.3), composed from the model's lincomb; two steps each */")
    emit("typedef struct { int a_bits, mode; int64_t count, n; int64_t etam; int32_t etae;"
         " int64_t momm; int32_t mome; int64_t decm; int32_t dece; uint64_t k1, k2;")
    emit("  int64_t w, v, g; int sw, sv, sg; int has_v;")
    emit("  int64_t w1, v1; int sw1, sv1; int64_t w2, v2; int sw2, sv2; } GSgd;")
    emit("static const GSgd G_SGD[] = {")
    cases = [dict(A=16, mode=NEAREST, W=[20000, -15000, 300, 0], sW=-18, G=[4096, -2048, 0, 1000],
                  sG=-20, n=64, eta=sfromdec(1, 1), mom=sfromdec(9, 1), dec=sfromdec(5, 4))]
    for i in range(60):
        A = rng.choice([16, 32])
        cnt = rng.randint(1, 24)
        lim = (1 << (A - 1)) - 1
        topw = rng.randint(0, A - 1)
        W = [rng.randint(-(1 << topw) + 1, (1 << topw) - 1) for _ in range(cnt)]
        topg = rng.randint(0, 31)
        G = [rng.randint(-min(lim if A == 32 else (1 << 31) - 1, (1 << topg) - 1), (1 << topg) - 1)
             for _ in range(cnt)]
        mom = rng.choice([(0, 0), sfromdec(9, 1), sfromdec(99, 2)])
        dec = rng.choice([(0, 0), sfromdec(5, 4), sfromdec(1, 4)])
        eta = rng.choice([sfromdec(1, 1), sfromdec(1, 2), sfromdec(5, 2), (0, 0), sfromdec(3, 0)])
        cases.append(dict(A=A, mode=rng.choice([STOCH, STOCH, NEAREST, PSEUDO]), W=W,
                          sW=rng.randint(-30, 0), G=G, sG=rng.randint(-30, 0), n=rng.randint(1, 256),
                          eta=eta, mom=mom, dec=dec))
    for i, c in enumerate(cases):
        has_v = c["mom"][0] != 0
        k1, k2 = nkey(1, i, 0xFFFC0001), nkey(1, i, 0xFFFC0002)
        V, sV = [0] * len(c["W"]), 0
        W1, sW1, V1, sV1 = sgd_step_model(c["W"], c["sW"], V, sV, c["G"], c["sG"], c["n"], c["eta"],
                                          c["mom"], c["dec"], c["A"], c["mode"], k1, k2)
        if not has_v:
            V1, sV1 = [0] * len(c["W"]), 0  # no buffer: the second step starts from zero again
        W2, sW2, V2, sV2 = sgd_step_model(W1, sW1, V1, sV1, c["G"], c["sG"], c["n"], c["eta"],
                                          c["mom"], c["dec"], c["A"], c["mode"], k1, k2)
        if not has_v:
            V2, sV2 = [0] * len(c["W"]), 0
        emit("  {%d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %s, %s," % (
            c["A"], c["mode"], len(c["W"]), c["n"], c["eta"][0], c["eta"][1], c["mom"][0], c["mom"][1],
            c["dec"][0], c["dec"][1], cu64(k1), cu64(k2)))
        emit("   %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d}," % (
            pool.add(c["W"]), pool.add(V), pool.add(c["G"]), c["sW"], sV, c["sG"], int(has_v),
            pool.add(W1), pool.add(V1), sW1, sV1, pool.add(W2), pool.add(V2), sW2, sV2))
    emit("};")


def init_c(fan):
    """N§11: the smallest integer c with fan_in 4^c >= 6 (exact rationals)."""
    from fractions import Fraction
    c = -40
    while fan * Fraction(4) ** c < 6:
        c += 1
    return c


def master_cases(rng, pool):
    emit("/* master init (R§6.1) and the 8-bit view, written from the text */")
    emit("typedef struct { int64_t fan_in; int a_bits; uint64_t seed; int p; int64_t count;"
         " int exp, bound; int64_t w; int mode; uint64_t vkey; int vexp; int64_t view; } GMaster;")
    emit("static const GMaster G_MASTER[] = {")
    for i in range(40):
        fan = rng.choice([1, 2, 5, 6, 7, 24, 25, 784, 1000, 4096, 12345, 1 << 20, (1 << 31) - 1])
        A = rng.choice([16, 32])
        seed = rng.randrange(1, 1000)
        p = rng.randrange(0, 100)
        cnt = rng.randint(1, 30)
        c = init_c(fan)
        M15 = min(32767, math.isqrt((6 * 4 ** (15 - c)) // fan))
        key = nkey(seed, M64, 0xFFFE0000 + p)
        W = [ndraw(key, j) % (2 * M15 + 1) - M15 for j in range(cnt)]
        s = c - 15
        if A == 32:
            W = [w << 16 for w in W]
            s -= 16
        mode = i % 3
        vkey = nkey(seed, rng.randrange(100), 0xFFFC0000 + 4 * p + 3)
        k = max(0, Bt(W) - 7)
        view = [sat(R(w, k, mode, vkey, j), 127) for j, w in enumerate(W)]
        emit("  {%d, %d, %d, %d, %d, %d, %d, %d, %d, %s, %d, %d}," % (
            fan, A, seed, p, cnt, s, M15, pool.add(W), mode, cu64(vkey), s + k, pool.add(view)))
    emit("};")


def lr_model(kind, vals, ats, base, mn, period, warm, ratio_q30, epoch, t, S):
    """R§6.4 written from the text with the model's scalar operations."""
    if kind == 0:
        eta = vals[0]
        for v, a in zip(vals[1:], ats[1:]):
            if a <= epoch:
                eta = v
    else:
        T = period * S
        p = t % (2 * T)
        if p > T:
            p = 2 * T - p
        f = cos_factor_q30(p, T)
        eta = sadd(mn, smul(sadd(base, sneg(mn)), snorm(f, -30)))
    if t < warm:
        w = ratio_q30 + ((2 ** 30 - ratio_q30) * t) // warm
        eta = smul(eta, snorm(w, -30))
    return eta


def lr_cases(rng):
    emit("/* learning-rate schedules (R§6.4): kind 0 piecewise, 1 cosine */")
    emit("typedef struct { int kind, count; int64_t vm[4]; int32_t ve[4]; int64_t at[4];"
         " int64_t bm; int32_t be; int64_t mm; int32_t me; int64_t period, warm, ratio;"
         " int64_t epoch; uint64_t t; int64_t spe; int64_t m; int32_t e; } GLr;")
    emit("static const GLr G_LR[] = {")
    decs = [(1, 1), (1, 2), (1, 3), (5, 2), (5, 3), (2, 0), (125, 3)]
    for i in range(300):
        kind = i % 2
        cnt = rng.randint(1, 4)
        vals = [sfromdec(*rng.choice(decs)) for _ in range(cnt)]
        ats = [0] + sorted(rng.sample(range(2, 40), cnt - 1))
        base = sfromdec(*rng.choice(decs))
        mn = rng.choice([(0, 0), (0, 0), sfromdec(1, 4), sfromdec(1, 3)])
        period = rng.randint(1, 20)
        spe = rng.randint(1, 1000)
        warm = rng.choice([0, 0, 100, 500, 7])
        rdec = rng.choice([(1, 3), (1, 1), (1, 0)])
        ratio = (2 * rdec[0] * 2 ** 30 + 10 ** rdec[1]) // (2 * 10 ** rdec[1])
        t = rng.choice([0, 1, rng.randrange(0, 600), rng.randrange(0, 3 * period * spe + 1),
                        period * spe, 2 * period * spe])
        epoch = t // spe + 1
        eta = lr_model(kind, vals, ats, base, mn, period, warm, ratio, epoch, t, spe)
        pv = vals + [(0, 0)] * (4 - cnt)
        pa = ats + [0] * (4 - cnt)
        emit("  {%d, %d, {%s}, {%s}, {%s}, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d}," % (
            kind, cnt, ", ".join(str(v[0]) for v in pv), ", ".join(str(v[1]) for v in pv),
            ", ".join(map(str, pa)), base[0], base[1], mn[0], mn[1], period, warm, ratio, epoch, t, spe,
            eta[0], eta[1]))
    emit("};")


# ------------------------------------------------------------------- norms

def norm_layout(kind, nb, C, HW):
    bs = kind in (0, 2)  # BN, L1BN
    idx = lambda b, c, h: (b * C + c) * HW + h  # noqa: E731
    if bs:
        groups = [[idx(b, c, h) for b in range(nb) for h in range(HW)] for c in range(C)]
    else:
        groups = [[idx(b, c, h) for c in range(C) for h in range(HW)] for b in range(nb)]
    return groups, (lambda i: (i // HW) % C)


def running_model(kind, st, s_x, N, m, omm, mean, dev):
    """R§7.3 update, written from the text with the model's scalar operations."""
    mean, dev = list(mean), list(dev)
    for c, (N_, S1, V, A) in enumerate(st):
        mu = sdiv(snorm(S1, s_x), snorm(N, 0))
        mean[c] = sadd(smul(omm, mean[c]), smul(m, mu))
        if kind == 0:
            if N > 1:
                var = sdiv(snorm(V, 2 * s_x), snorm(N * (N - 1), 0))
                dev[c] = sadd(smul(omm, dev[c]), smul(m, var))
        else:
            mad = sdiv(snorm(A, s_x), snorm(N * N, 0))
            dev[c] = sadd(smul(omm, dev[c]), smul(m, mad))
    return mean, dev


def eval_model(kind, v, s_x, C, HW, g8, s_g, b8, s_b, mean, dev, eps, K, bits, mode, key):
    """R§7.3 evaluation of the batch-statistics kinds (composed, model lincomb)."""
    a, bc = [], []
    for c in range(C):
        if kind == 0:
            rho = srsqrt(sadd(dev[c], eps))
        else:
            rho = sdiv(ONE, sadd(smul(K, dev[c]), eps))
        ac = smul(snorm(g8[c], s_g), rho)
        a.append(ac)
        bc.append(sadd(snorm(b8[c], s_b), sneg(smul(ac, mean[c]))))
    chan = lambda i: (i // HW) % C  # noqa: E731
    n = len(v)
    return lincomb([([a[chan(i)] for i in range(n)], v, s_x), ([bc[chan(i)] for i in range(n)], None, 0)],
                   n, bits, mode, key, group_of=lambda i: i)


def norm_cases(rng, pool):
    emit("/* normalization layers (R§7) through the model's norm_forward / norm_backward;")
    emit(" * running statistics and eval composed from the model's primitives.")
    emit(" * kind: 0 BN, 1 LN, 2 L1BN, 3 L1LN (RecNormKind). Scalars at pool offsets are")
    emit(" * (m, e) pairs. */")
    emit("typedef struct { int kind, n, c, hw, s_x, s_g, s_b, s_e, bits, mode;")
    emit("  int64_t epsm; int32_t epse; int64_t km; int32_t ke; uint64_t kf, kb, ke_;")
    emit("  int64_t v, g8, b8, dy;")
    emit("  int64_t y; int s_y; int64_t rho; int64_t dx; int s_dx; int64_t dgamma, dbeta;")
    emit("  int64_t mom_m; int32_t mom_e; int64_t omm_m; int32_t omm_e;")
    emit("  int64_t mean, dev; int64_t ye; int s_ye; } GNorm;")
    emit("static const GNorm G_NORM[] = {")
    eps = sfromdec(1, 5)
    # the worked examples of R§7.2 / §7.4 first (nearest), then random cases
    specs = [dict(kind=0, nb=4, C=1, HW=1, s_x=-7, v=[10, -6, 3, 1], g8=[64], s_g=-6, b8=[0], s_b=0,
                  dy=[5, -3, 0, 8], s_e=-9, mode=NEAREST, bits=8, K=(SQRT_PI_2_Q30, -30)),
             dict(kind=2, nb=4, C=1, HW=1, s_x=-7, v=[10, -6, 3, 1], g8=[64], s_g=-6, b8=[0], s_b=0,
                  dy=[5, -3, 0, 8], s_e=-9, mode=NEAREST, bits=8, K=(SQRT_PI_2_Q30, -30))]
    for i in range(100):
        kind = i % 4
        nb, C, HW = rng.randint(1, 5), rng.randint(1, 4), rng.randint(1, 12)
        cnt = nb * C * HW
        v = [rng.randint(-127, 127) // rng.choice([1, 1, 2, 8, 64]) for _ in range(cnt)]
        if i % 23 == 0:
            v = [rng.randint(-127, 127)] * cnt  # constant input
        dy = [rng.randint(-127, 127) for _ in range(cnt)]
        if i % 29 == 0:
            dy = [rng.randint(-127, 127)] * cnt  # constant error
        specs.append(dict(kind=kind, nb=nb, C=C, HW=HW, s_x=rng.randint(-12, 3), v=v,
                          g8=[rng.randint(-127, 127) for _ in range(C)], s_g=rng.randint(-9, -5),
                          b8=[rng.randint(-127, 127) for _ in range(C)], s_b=rng.randint(-12, -5),
                          dy=dy, s_e=rng.randint(-20, 0), mode=rng.choice([NEAREST, STOCH, STOCH, PSEUDO]),
                          bits=rng.choice([8, 8, 4, 6]),
                          K=rng.choice([(SQRT_PI_2_Q30, -30), ONE, sfromdec(15, 1)])))
    for i, sp in enumerate(specs):
        kind, nb, C, HW = sp["kind"], sp["nb"], sp["C"], sp["HW"]
        l1 = kind in (2, 3)
        groups, chan = norm_layout(kind, nb, C, HW)
        kf, kb = nkey(2, i, 4 * 5), nkey(2, i, 4 * 5 + 1)
        y, s_y, saved = norm.norm_forward(sp["v"], sp["s_x"], groups, sp["g8"], sp["s_g"], sp["b8"], sp["s_b"],
                                          chan, eps, bits=sp["bits"], mode=sp["mode"], key=kf, l1=l1, K=sp["K"])
        st, rhos, gid, z = saved
        dx, s_dx, dgam, dbet = norm.norm_backward(sp["dy"], sp["s_e"], saved, groups, sp["g8"], sp["s_g"], chan,
                                                  sp["s_x"], mode=sp["mode"], key=kb, l1=l1, K=sp["K"],
                                                  bits=sp["bits"])
        # running statistics: init, two updates with the same batch (R§7.3)
        mom = rng.choice([(1, 1), (1, 0), (0, 0), (25, 2)])
        mom_s = sdec(*mom)
        omm = sdec(10 ** mom[1] - mom[0], mom[1])
        mean = [(0, 0)] * C
        dev = [sdiv(ONE, sp["K"]) if l1 else ONE] * C
        N = len(groups[0])
        stats = []
        if kind in (0, 2):
            for c in range(C):
                g = groups[c]
                S1 = sum(sp["v"][j] for j in g)
                V = N * sum(sp["v"][j] ** 2 for j in g) - S1 * S1
                A = sum(abs(N * sp["v"][j] - S1) for j in g)
                stats.append((N, S1, V, A))
            for _ in range(2):
                mean, dev = running_model(0 if kind == 0 else 2, stats, sp["s_x"], N, mom_s, omm, mean, dev)
        ke = nkey(2, M64 - 1, 4 * 5)
        if kind in (0, 2):
            ye, s_ye = eval_model(kind, sp["v"], sp["s_x"], C, HW, sp["g8"], sp["s_g"], sp["b8"], sp["s_b"],
                                  mean, dev, eps, sp["K"], sp["bits"], sp["mode"], ke)
        else:
            ye, s_ye, _ = norm.norm_forward(sp["v"], sp["s_x"], groups, sp["g8"], sp["s_g"], sp["b8"],
                                            sp["s_b"], chan, eps, bits=sp["bits"], mode=sp["mode"], key=ke,
                                            l1=l1, K=sp["K"])
        emit("  {%d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %s, %s, %s," % (
            kind, nb, C, HW, sp["s_x"], sp["s_g"], sp["s_b"], sp["s_e"], sp["bits"], sp["mode"],
            eps[0], eps[1], sp["K"][0], sp["K"][1], cu64(kf), cu64(kb), cu64(ke)))
        emit("   %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d," % (
            pool.add(sp["v"]), pool.add(sp["g8"]), pool.add(sp["b8"]), pool.add(sp["dy"]),
            pool.add(y), s_y, pool.add([x for r in rhos for x in r]), pool.add(dx), s_dx,
            pool.add([x for r in dgam for x in r]), pool.add(dbet)))
        emit("   %d, %d, %d, %d, %d, %d, %d, %d}," % (
            mom_s[0], mom_s[1], omm[0], omm[1], pool.add([x for r in mean for x in r]),
            pool.add([x for r in dev for x in r]), pool.add(ye), s_ye))
    emit("};")


# -------------------------------------------------------------- shiftquant

def sq_composed(x, ng, chan_of, b, mode, key):
    """SQ_b (R§9.2) composed from the model's primitives (B, Bt, R, sat) as
    the text reads, in any mode; the zero tensor is zeros at base 0 (R§1.2).
    Checked against the model's more.shiftquant (stochastic) below."""
    J, lim = 8 - b, (1 << (b - 1)) - 1
    BT = Bt(x)
    if BT == 0:
        return [0] * len(x), 0, [0] * ng
    kT = max(0, BT - (b - 1))
    base = kT - J
    Bc = [0] * ng
    for i, v in enumerate(x):
        Bc[chan_of(i)] = max(Bc[chan_of(i)], B(v))
    kc = [max(0, base, Bc[c] - (b - 1)) for c in range(ng)]
    out = [sat(R(v, kc[chan_of(i)], mode, key, i), lim) << (kc[chan_of(i)] - base) for i, v in enumerate(x)]
    return out, base, kc


def sq_model(x, div, ng, b, mode, key):
    """The expected SQ_b: the model's more.shiftquant for stochastic (the only
    mode it has), the composition for pseudo and nearest. The model reports
    base = -J for an all-zero tensor (its values are zero); R§1.2 stores a
    zero tensor at the input's exponent, so the vectors say base 0 there."""
    chan_of = lambda i: (i // div) % ng  # noqa: E731
    out, base, kc = sq_composed(x, ng, chan_of, b, mode, key)
    if mode == STOCH:
        mo, mb, mk = more.shiftquant(x, ng, chan_of, b, key)
        if Bt(x) == 0:
            assert mo == out and mb == -(8 - b) and mk == kc, (mo, mb, mk)
        else:
            assert (mo, mb, mk) == (out, base, kc), (x, mo, out, mb, base, mk, kc)
    J = 8 - b
    for i, v in enumerate(out):  # R§9.2 step 4's bounds
        assert abs(v) <= ((1 << (b - 1)) - 1) << J <= 127
        assert v % (1 << (kc[chan_of(i)] - base)) == 0
    return out, base, kc


def sq_layout(rng):
    """(count, div, ngroups, description) of an (n, C, HW) error tensor under
    groups channel / sample / tensor (rec_sq_groups), or one group per
    element."""
    n, C, HW = rng.randint(1, 4), rng.randint(1, 6), rng.randint(1, 6)
    kind = rng.choice(["channel", "channel", "sample", "tensor", "element"])
    cnt = n * C * HW
    if kind == "channel":
        return cnt, HW, C
    if kind == "sample":
        return cnt, C * HW, n
    if kind == "tensor":
        return cnt, 1, 1
    return cnt, 1, cnt


def sq_cases(rng, pool):
    emit("/* SQ_b (R§9.2): x at pool[x], expected v at pool[o], the groups' steps kc at")
    emit(" * pool[kc] (ngroups), element j in group (j / div) % ngroups; result at s + base.")
    emit(" * The first two are R§9.2's worked example (nearest, b = 4 and 6). */")
    emit("typedef struct { int b, mode; uint64_t key; int64_t count, div, ngroups, x, o, kc; int base; } GSq;")
    emit("static const GSq G_SQ[] = {")
    specs = []
    ex = [1000, -37, 5, 260, 90, -45, 12, 0]
    specs.append((4, NEAREST, 0, ex, 4, 2))
    specs.append((6, NEAREST, 0, ex, 4, 2))
    for i in range(180):
        b = rng.choice([2, 3, 4, 4, 4, 5, 6, 6, 7, 8])
        mode = (STOCH, NEAREST, PSEUDO)[i % 3]
        key = nkey(rng.randrange(1 << 32), rng.randrange(1 << 20), rng.randrange(1 << 32))
        cnt, div, ng = sq_layout(rng)
        # every group its own scale: top bits 0..44, some groups zero
        tops = [rng.choice([0, rng.randint(1, 44)]) if rng.random() < 0.15 else rng.randint(1, 44)
                for _ in range(ng)]
        x = [rng.randint(-(1 << tops[(j // div) % ng]), 1 << tops[(j // div) % ng]) for j in range(cnt)]
        if i % 19 == 0:
            x = [0] * cnt  # the zero tensor
        elif i % 17 == 0:
            x = [rng.randint(-3, 3) for _ in range(cnt)]  # BT <= b - 1: negative base
        elif i % 13 == 0:
            x = [rng.randint(-(1 << 62), 1 << 62) >> rng.randint(0, 60) for _ in range(cnt)]
        specs.append((b, mode, key, x, div, ng))
    for (b, mode, key, x, div, ng) in specs:
        out, base, kc = sq_model(x, div, ng, b, mode, key)
        emit("  {%d, %d, %s, %d, %d, %d, %d, %d, %d, %d}," % (
            b, mode, cu64(key), len(x), div, ng, pool.add(x), pool.add(out), pool.add(kc), base))
    emit("};")


def sq_gap_report(rng):
    """R§13.4: the exact expected squared error of stochastic RQ_4, SQ_4
    (channel groups) and a per-channel free-scale 4-bit quantizer (step
    max_c / 7) on channel-scaled random tensors; how much of the gap from
    RQ_4 to the free-scale quantizer SQ_4 closes. A measurement, reported
    in a comment (the tests check SQ_4 <= RQ_4 per element)."""
    from fractions import Fraction as Fr

    def var(x, delta):  # Delta^2 f (1 - f), f the fraction of |x| / Delta
        t = Fr(abs(x)) / delta
        f = t - (t.numerator // t.denominator)
        return delta * delta * f * (1 - f)

    lines = []
    for trial in range(6):
        C, per = rng.choice([(4, 64), (16, 32), (64, 16)])
        spread = rng.choice([2, 6, 12])
        x, ch = [], []
        for c in range(C):
            sc = 1 << (20 + rng.randint(-spread, spread))
            for _ in range(per):
                # Laplace-like: a random sign times an exponential-ish magnitude
                x.append(rng.choice([-1, 1]) * int(sc * rng.expovariate(1.0)))
                ch.append(c)
        out, base, kc = sq_composed(x, C, lambda i: ch[i], 4, STOCH, 0)
        kT = max(0, Bt(x) - 3)
        lim = 7
        e_rq = e_sq = e_fr = Fr(0)
        for i, v in enumerate(x):
            k = kc[ch[i]]
            if -(-abs(v) >> kT) > lim or -(-abs(v) >> k) > lim:
                continue  # saturates in one of them: not compared
            mc = max(abs(x[j]) for j in range(len(x)) if ch[j] == ch[i])
            e_rq += var(v, Fr(1 << kT))
            e_sq += var(v, Fr(1 << k))
            e_fr += var(v, Fr(mc, 7))
        # the free-scale step max_c / 7 is coarser than 2^kT on the largest
        # channel (RQ_4 saturates there instead): then there is no gap to close
        closed = ("%.3f" % float((e_rq - e_sq) / (e_rq - e_fr)) if e_fr < e_rq
                  else "n/a (free-scale not better)")
        lines.append(" *   C %2d x %2d, channel scales 2^(20 +- %2d): SQ_4/RQ_4 %.4f, free/RQ_4 %.4f,"
                     " gap closed %s" % (C, per, spread, float(e_sq / e_rq), float(e_fr / e_rq), closed))
    emit("/* R§13.4 measurement (Laplace-like channels, stochastic, non-saturated elements):")
    emit(" * expected squared error relative to per-tensor RQ_4, and the share of the gap")
    emit(" * to a per-channel free-scale quantizer (step max_c / 7) that SQ_4 closes.")
    for ln in lines:
        emit(ln)
    emit(" */")


def main_shiftquant():
    rng = random.Random(20261209)
    emit("/* shiftquant.h: golden vectors of SQ_b (R§9.2) for test_recipe.c. GENERATED by")
    emit(" * tests/ref/golden/make_golden.py --shiftquant from the model in")
    emit(" * ../shared/spec/recipes-proto (more.py's shiftquant; pseudo and nearest")
    emit(" * composed from spec.py's primitives and checked against it); do not edit. */")
    emit("#ifndef GOLDEN_SHIFTQUANT_H")
    emit("#define GOLDEN_SHIFTQUANT_H")
    emit("#include <stdint.h>")
    emit("#ifndef G_N")
    emit("#define G_N(a) ((int)(sizeof(a) / sizeof((a)[0])))")
    emit("#endif")
    sq_gap_report(random.Random(7))
    p_sq = Pool("G_SQ_DATA")
    head = out[:]
    del out[:]
    sq_cases(rng, p_sq)
    rest = out[:]
    del out[:]
    p_sq.write()
    pools = out[:]
    sys.stdout.write("\n".join(head + pools + rest + ["#endif", ""]))


# ----------------------------------------------------------------- unified

def clip_mu_t(l):
    return more.delta(l)


def l0_model(M, b, grid):
    """The no-clip level (R§10.2) for any width and grid, composed from the
    text; the model's more.l0_of (8 bits, eighth grid) must agree."""
    L = (1 << (b - 1)) - 1
    step = 8 if grid == 1 else 1
    l = 0
    while True:
        mu, T = clip_mu_t(l)
        if L * mu * (1 << T) >= 8 * M:
            break
        l += step
    if b == 8 and grid == 0:
        assert l == more.l0_of(M), (M, l)
    return l


def cq_model(x, l, b, key):
    """CQ(x, l) (R§10.2) at width b, composed from the text with the model's
    draws; at 8 bits the model's more.clipquant must agree."""
    L = (1 << (b - 1)) - 1
    mu, T = clip_mu_t(l)
    den = mu << T
    q = []
    for j, v in enumerate(x):
        a = abs(v) << 3
        q0, f = divmod(a, den)
        if q0 >= L:
            r = L
        else:
            r = min(L, q0 + (1 if (f << 64) > ndraw(key, j) * den else 0))
        q.append(-r if v < 0 else r)
    if b == 8:
        assert q == more.clipquant(x, l, key)
    return q


def prereduce_model(x):
    bx = Bt(x)
    if bx <= 56:
        return list(x), 0
    k = bx - 56
    return [(-R_near(abs(v), k) if v < 0 else R_near(abs(v), k)) for v in x], k


def cos_model(x, q):
    c, (G, Q, D) = more.cos_q30(x, q)
    return c, G, Q, D


def search_model(x, b, grid, rng_oct, key):
    """The search (R§10.5) as the text reads: candidates l0, l0 - 1 (octave:
    - 8), ..., max(0, l0 - 8 R); the largest cq, ties to the larger level. At
    8 bits on the eighth grid the model's more.dsgc_search must agree."""
    M = max(abs(v) for v in x)
    l0 = l0_model(M, b, grid)
    step = 8 if grid == 1 else 1
    best = None
    for l in range(l0, max(0, l0 - 8 * rng_oct) - 1, -step):
        q = cq_model(x, l, b, key)
        c = cos_model(x, q)[0]
        if best is None or c > best[0]:
            best = (c, l, q)
    if b == 8 and grid == 0:
        ml0, mb = more.dsgc_search(x, key, rng_oct)
        assert ml0 == l0 and mb[1] == best[1] and mb[0] == best[0] and mb[2] == best[2]
    return l0, best


def site_model(st, x, s, t, on, every, rng_oct, grid, b, key):
    """One DSGC site step (R§10.5) with the decisions of docs/recipes.md: no
    held level yet (l* = -1) searches. Returns (state, q, mu, exponent,
    level, dq)."""
    x, k = prereduce_model(x)
    s += k
    M = max(abs(v) for v in x)
    if M == 0:
        return st, [0] * len(x), 1, s, -1, 0
    l0 = l0_model(M, b, grid)
    if on and (t % every == 0 or st[0] < 0):
        _, (c, l, q) = search_model(x, b, grid, rng_oct, key)
        st = (l, s)
    elif on:
        l = min(max(st[0] + 8 * (st[1] - s), 0), l0)
    else:
        l = l0
    q = cq_model(x, l, b, key)
    mu, T = clip_mu_t(l)
    if grid == 1:
        mu, e = 1, s + T
    else:
        e = s + T - 3
    c = cos_model(x, q)[0]
    return st, q, mu, e, l, (1 << 30) - c


def dec_q(n, f, q):
    return (2 * n * (1 << q) + 10 ** f) // (2 * 10 ** f)


def err_tensor(rng, cnt, kind):
    """Error-like tensors: Laplace-like, Student-t-like heavy tails, small
    exact ones, outliers, and huge ones that need the pre-reduction."""
    if kind == 0:
        sc = 1 << rng.randint(0, 30)
        return [rng.choice([-1, 1]) * int(sc * rng.expovariate(1.0)) for _ in range(cnt)]
    if kind == 1:
        sc = 1 << rng.randint(0, 24)
        return [int(sc * rng.gauss(0, 1) / max(1e-3, abs(rng.gauss(0, 1))) ** 0.5) for _ in range(cnt)]
    if kind == 2:
        return [rng.randint(-127, 127) for _ in range(cnt)]
    if kind == 3:
        x = [int(rng.gauss(0, 1 << 12)) for _ in range(cnt)]
        x[rng.randrange(cnt)] = rng.choice([-1, 1]) << rng.randint(16, 22)
        return x
    return [rng.randint(-(1 << 62), 1 << 62) >> rng.randint(0, 8) for _ in range(cnt)]


def unified_cases(rng, pool):
    emit("/* l0 (R§10.2): the no-clip level of a maximum M at width b on a grid. */")
    emit("typedef struct { uint64_t m; int b, grid; int64_t l0; } GL0;")
    emit("static const GL0 G_L0[] = {")
    ms = [0, 1, 15, 16, 127, 128, 143, 144, 199, 2044, (1 << 56) - 1]
    ms += [rng.randrange(1, 1 << rng.randint(1, 56)) for _ in range(60)]
    for i, M in enumerate(ms):
        b = 8 if i % 3 else rng.randint(2, 8)
        grid = i % 2
        emit("  {%s, %d, %d, %d}," % (cu64(M), b, grid, l0_model(M, b, grid)))
    emit("};")

    emit("/* CQ (R§10.2) on pre-reduced x at pool[x] (count), level l, width b; q at pool[q].")
    emit(" * The exponent offset is T(l) - 3 with mu(l) (eighth) or T(l) with 1 (octave). */")
    emit("typedef struct { int b; int64_t l; uint64_t key; int64_t count, x, q; } GCq;")
    emit("static const GCq G_CQ[] = {")
    for i in range(60):
        b = 8 if i % 4 else rng.randint(2, 7)
        cnt = rng.randint(1, 40)
        x = err_tensor(rng, cnt, i % 4)
        M = max(abs(v) for v in x)
        l0 = l0_model(M, b, 0)
        l = rng.randint(max(0, l0 - 40), l0)
        key = nkey(rng.randrange(1 << 32), rng.randrange(1 << 20), rng.randrange(1 << 32))
        q = cq_model(x, l, b, key)
        emit("  {%d, %d, %s, %d, %d, %d}," % (b, l, cu64(key), cnt, pool.add(x), pool.add(q)))
    emit("};")

    emit("/* The cosine (R§10.3) of x and q, with the sums G, Qs and D. */")
    emit("typedef struct { int64_t count, x, q, cq, g2, q2, d; } GCos;")
    emit("static const GCos G_COS[] = {")
    for i in range(40):
        cnt = rng.randint(1, 50)
        x = err_tensor(rng, cnt, i % 4)
        if i == 0:
            x = [0] * cnt
        M = max(abs(v) for v in x)
        l = rng.randint(0, l0_model(M, 8, 0)) if M else 0
        q = cq_model(x, l, 8, rng.randrange(1 << 64))
        c, G, Q, D = cos_model(x, q)
        emit("  {%d, %d, %d, %d, %s, %s, %s}," % (cnt, pool.add(x), pool.add(q), c, c64(G), c64(Q), c64(D)))
    emit("};")

    emit("/* Site sequences (R§10.5): a DSGC site over steps t = 0 .. nsteps-1, tensor k at")
    emit(" * pool[x] + k count (exponent pool[s] + k, pre-reduction included); expected per")
    emit(" * step: pool[o] + 6k = {level, mu, exponent, dq, l*, s*}, q at pool[q] + k count.")
    emit(" * The first searches are checked against the model's dsgc_search (8 bits, eighth). */")
    emit("typedef struct { int on; int64_t every; int range, grid, b; uint64_t key0; int64_t count, nsteps, x, s, o, q; } GSite;")
    emit("static const GSite G_SITE[] = {")
    for i in range(40):
        on = 0 if i % 10 == 9 else 1
        every = rng.choice([1, 2, 3, 5, 100])
        ro = rng.randint(1, 8) if i % 3 else 4
        grid = 1 if i % 4 == 3 else 0
        b = 8 if i % 5 else rng.randint(2, 7)
        cnt = rng.randint(1, 30)
        nsteps = rng.randint(1, 7)
        key0 = rng.randrange(1 << 64)
        xs, ss, os_, qs = [], [], [], []
        st = (-1, 0)
        s = rng.randint(-40, 10)
        kind = i % 5
        for t in range(nsteps):
            x = err_tensor(rng, cnt, kind)
            if rng.random() < 0.1:
                x = [0] * cnt
            s += rng.randint(-3, 3)  # the input's exponent drifts
            key = (key0 + t * 0x9E3779B97F4A7C15) & M64
            st, q, mu, e, lv, dq = site_model(st, x, s, t, on, every, ro, grid, b, key)
            xs += x
            ss.append(s)
            os_ += [lv, mu, e, dq, st[0], st[1]]
            qs += q
        emit("  {%d, %d, %d, %d, %d, %s, %d, %d, %d, %d, %d, %d}," % (
            on, every, ro, grid, b, cu64(key0), cnt, nsteps, pool.add(xs), pool.add(ss), pool.add(os_),
            pool.add(qs)))
    emit("};")

    emit("/* phi (R§10.6): Q30 of max(exp(-alpha d_c), beta) for dq in Q30; the first rows are")
    emit(" * R§10.6's table (alpha 20, beta 0.1; d_c 0, 0.001, 0.01, 0.05, 0.1, 0.2). */")
    emit("typedef struct { uint32_t dq; int64_t alpha_q16, beta_q30, phi; } GPhi;")
    emit("static const GPhi G_PHI[] = {")
    a20, b01 = dec_q(20, 0, 16), dec_q(1, 1, 30)
    rows = [(0, a20, b01)]
    for n, f in [(1, 3), (1, 2), (5, 2), (1, 1), (2, 1)]:
        rows.append((dec_q(n, f, 30), a20, b01))
    for _ in range(40):
        an, af = rng.randint(1, 1000), rng.randint(0, 3)
        bn, bf = rng.randint(1, 10), 1
        rows.append((rng.randint(0, 1 << 30) >> rng.randint(0, 20), dec_q(an, af, 16), dec_q(bn, bf, 30)))
    rows.append((1 << 30, dec_q(1000, 0, 16), dec_q(1, 0, 30)))
    for dq, aq, bq in rows:
        phi, _ = more.phi_q30(dq, aq, bq)
        emit("  {%d, %d, %d, %d}," % (dq, aq, bq, phi))
    emit("};")


def main_unified():
    rng = random.Random(20261201)
    emit("/* unified.h: golden vectors of the unified recipe (R§10: l0, CQ, the cosine, the")
    emit(" * DSGC site's search and held clip, phi) for test_recipe.c. GENERATED by")
    emit(" * tests/ref/golden/make_golden.py --unified from the model in")
    emit(" * ../shared/spec/recipes-proto (more.py's clipquant, l0_of, cos_q30, dsgc_search,")
    emit(" * phi_q30; other widths, the octave grid, the pre-reduction and the held clip")
    emit(" * composed from the text and checked against them where they overlap); do not edit. */")
    emit("#ifndef GOLDEN_UNIFIED_H")
    emit("#define GOLDEN_UNIFIED_H")
    emit("#include <stdint.h>")
    emit("#ifndef G_N")
    emit("#define G_N(a) ((int)(sizeof(a) / sizeof((a)[0])))")
    emit("#endif")
    p = Pool("G_UNI_DATA")
    head = out[:]
    del out[:]
    unified_cases(rng, p)
    rest = out[:]
    del out[:]
    p.write()
    pools = out[:]
    sys.stdout.write("\n".join(head + pools + rest + ["#endif", ""]))


def main():
    if UNIFIED:
        return main_unified()
    if SHIFTQUANT:
        return main_shiftquant()
    rng = random.Random(20261130)
    emit("/* ghaffari.h: golden vectors for test_recipe.c. GENERATED by")
    emit(" * tests/ref/golden/make_golden.py from the model in")
    emit(" * ../shared/spec/recipes-proto (spec.py, norm.py, more.py); do not edit. */")
    emit("#ifndef GOLDEN_GHAFFARI_H")
    emit("#define GOLDEN_GHAFFARI_H")
    emit("#include <stdint.h>")
    emit("#define G_N(a) ((int)(sizeof(a) / sizeof((a)[0])))")
    check_tables()
    scalars(rng)
    tables_interp(rng)
    p_rq, p_lin, p_loss = Pool("G_RQ_DATA"), Pool("G_LIN_DATA"), Pool("G_LOSS_DATA")
    p_sgd, p_mas, p_norm = Pool("G_SGD_DATA"), Pool("G_MASTER_DATA"), Pool("G_NORM_DATA")
    body = out[:]
    del out[:]
    rq_cases(rng, p_rq)
    srdiv_cases(rng)
    linsum_cases(rng, p_lin)
    softmax_cases(rng, p_loss)
    sgd_cases(rng, p_sgd)
    master_cases(rng, p_mas)
    lr_cases(rng)
    norm_cases(rng, p_norm)
    rest = out[:]
    del out[:]
    for p in (p_rq, p_lin, p_loss, p_sgd, p_mas, p_norm):
        p.write()
    pools = out[:]
    sys.stdout.write("\n".join(body + pools + rest + ["#endif", ""]))


if __name__ == "__main__":
    main()
