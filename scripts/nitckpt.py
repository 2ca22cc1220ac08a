#!/usr/bin/env python3
"""nitckpt.py: read nitc checkpoints outside nitc (docs/runtime.md,
"Reading checkpoints outside nitc").

    scripts/nitckpt.py CKPT                       the header: format, model,
                                                  epoch, step, recipe, data
    scripts/nitckpt.py CKPT --model EXE           and every parameter tensor
    scripts/nitckpt.py CKPT --model EXE --npz OUT.npz    every tensor to numpy
    scripts/nitckpt.py CKPT [--model EXE] --json  the summary as JSON

A checkpoint stores the parameters as one slab of bytes laid out by the
compiled model: it holds no tensor names, shapes or offsets. Those come from
the training executable that wrote it: --model EXE runs `EXE info` and reads
its layer table (or takes a file holding that output, for an executable built
for another machine), checks its fingerprint against the checkpoint's, and
rebuilds the slab layout the compiler uses. Without --model only the header
is read (and, for format 3, the per-tensor exponents).

As a module:

    import nitckpt
    ck = nitckpt.load("run.ckpt", model="./lenet5")
    ck.epoch, ck.step, ck.recipe["batch"]
    ck.tensors["c1.weight"]            # numpy int8, shape (6, 1, 5, 5)
    ck.exponents["c1.weight"]          # -8: value = m * 2**-8
    nitckpt.to_float(ck.tensors["c1.weight"], ck.exponents["c1.weight"])
    ck.float_weights()                 # {"c1": float64 array, ...}

Every integer stays an integer (numpy int8/int16/int32 arrays, Python ints);
floats appear only in the conversion helpers, which compute value = m * 2**exp
exactly (float64 holds every int32 mantissa exactly).

The format is runtime/ckpt.c's (versions 1, 2 and 3). Every field is checked
as the runtime checks it, the CRC-32 first; a bad file raises CheckpointError
naming the file, the offset and what was expected (the command line prints it
and exits 1).
"""

import argparse
import json
import os
import re
import stat
import subprocess
import sys
import zlib

try:
    import numpy as np
except ImportError:  # reported when needed: load() and the command line
    np = None

__all__ = ["CheckpointError", "Checkpoint", "ModelInfo", "TensorSpec", "load", "model_info", "parse_info",
           "to_float", "s31_to_float"]

MAGIC = b"NITCKPT\0"
READS_VERSIONS = (1, 2, 3)  # NITRT_CKPT_VERSION is 3
ABI_MIN, ABI_MAX = 3, 10    # ABI 4 added node metadata, ABI 5 context fields, ABI 6 recipe and model fields, ABI 7 a kernel's arguments, ABI 8 a node field, ABI 9 a context field, ABI 10 a recipe field: the same bytes
HEADER_V1, HEADER_V2, TENSORS_V3, TENSOR_REC = 256, 336, 568, 32
SLAB_ALIGN = 64
PATH_MAX = 4095
MAX_PARAMS = 32768
MAX_SCHED = 8
BATCH_MAX, EPOCHS_MAX = 1 << 20, 1000000
MU_MIN, MU_MAX = 1, 8
DEC_N_MAX, DEC_F_MAX, LR_MAX = 999999999999999999, 9, 1000
IN_EXP, SHIFT_MIN, SHIFT_MAX = -7, -40, 62
I32_MAX, I64_MAX, U32_MAX = 2**31 - 1, 2**63 - 1, 2**32 - 1
GOLDEN = 0x9E3779B97F4A7C15
M64 = 2**64 - 1

ROUND_NAMES = ("pseudo", "stochastic", "nearest")
RECIPE_NAMES = ("niti", "ghaffari", "shiftquant", "unified")
ROLE_NAMES = ("weight", "gamma", "beta")
FORMAT_NAMES = {0: "unknown", 1: "idx", 2: "CIFAR-10 binary", 3: "CSV", 4: "raw"}
FMT_IDX, FMT_CSV = 1, 3
QUANT_PIXELS, QUANT_COLUMNS = 0, 1
# Normalization layers own two tensors, gamma then beta; these keep running
# statistics {mean m, mean e, dev m, dev e} per channel with gamma.
NORM_KINDS = {"batchnorm": True, "l1norm": True, "layernorm": False, "l1layernorm": False}
WEIGHT_KINDS = ("dense", "conv")
# Recipe unified: its DSGC sites' state, int32 (nsites, 4) {l* + 1, s*, d_c,
# phi}: the held clip level plus one (0: none held yet) and its exponent, the
# last step's d_c and phi in Q30 (runtime/inspect.c prints the same).
CLIP_KEY = "clip_state"
Q30 = 1 << 30


class CheckpointError(Exception):
    """A checkpoint or a model description that cannot be read: `path`, the
    file; `offset`, the byte offset concerned (None when the whole file);
    str(e) is the full message."""

    def __init__(self, path, message, offset=None):
        super().__init__("%s: %s" % (path, message))
        self.path = path
        self.offset = offset
        self.message = message


# which interpreter lacks it: a python3 first in PATH (pyenv, a venv) may not
# see the system's python3-numpy, which /usr/bin/python3 does
NO_NUMPY = ("numpy is needed to read checkpoints, and this Python (%s) cannot import it (Debian: apt-get "
            "install python3-numpy, for /usr/bin/python3)" % sys.executable)


def _need_numpy():
    if np is None:
        raise ImportError(NO_NUMPY)


# ------------------------------------------------------------- conversions

def to_float(m, exp):
    """value = m * 2**exp as float64: m an integer array (or int), exp an int.
    Exact for |m| < 2**53 (every nitc tensor) unless the value leaves float64's
    range."""
    _need_numpy()
    return np.ldexp(np.asarray(m, dtype=np.float64), int(exp))


def s31_to_float(m, e):
    """S31 scalars value = m * 2**e elementwise (the running statistics), as
    float64; m and e integer arrays of one shape."""
    _need_numpy()
    return np.ldexp(np.asarray(m, dtype=np.float64), np.asarray(e, dtype=np.int32))


def fmt_decimal(n, f):
    """The recipe's decimals n / 10**f as the runtime prints them: 0.05, 1."""
    if f <= 0:
        return str(n)
    s = str(n).rjust(f + 1, "0")
    s = s[:-f] + "." + s[-f:]
    s = s.rstrip("0")
    return s[:-1] if s.endswith(".") else s


def _mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def _align(v):
    return (v + SLAB_ALIGN - 1) // SLAB_ALIGN * SLAB_ALIGN


# ------------------------------------------------------------ the model

class TensorSpec:
    """One parameter tensor of the model and its place in the params slab.
    name: the layer's name for weights ("c1"), "<layer>.gamma"/"<layer>.beta"
    for normalization layers; layer, kind: its layer; role: "weight", "gamma"
    or "beta"; shape; count; exp: the fixed weight exponent under niti, the
    initial master exponent otherwise; bound: the init bound; offset,
    master_off, mom_off, stats_off: byte offsets in the slab (-1 absent)."""

    def __init__(self, index, name, layer, kind, role, shape, count, exp, bound):
        self.index, self.name, self.layer, self.kind, self.role = index, name, layer, kind, role
        self.shape, self.count, self.exp, self.bound = tuple(shape), count, exp, bound
        self.offset = self.master_off = self.mom_off = self.stats_off = -1
        self.stats = role == "gamma" and NORM_KINDS.get(kind, False)

    def __repr__(self):
        return "TensorSpec(%d, %r, %s, shape=%r)" % (self.index, self.name, self.role, self.shape)


class ModelInfo:
    """What `EXE info` says about a compiled model, and the params slab layout
    rebuilt from it (compiler/plan.c): name, fingerprint, abi, input (C, H, W),
    classes, batch, recipe ("niti", "ghaffari", ...), master_bits (0 under
    niti), weight_bits, tensors (TensorSpec, in slab order), param_bytes,
    pstate_off (-1 under niti), nsites and clip_off (recipe unified: its
    DSGC sites and their state's offset; 0 and -1 otherwise)."""

    def __init__(self, source):
        self.source = source
        self.name = None
        self.fingerprint = None
        self.abi = None
        self.input = None
        self.classes = None
        self.batch = None
        self.recipe = "niti"
        self.master_bits = 0
        self.weight_bits = None
        self.nparams = None
        self.count = None
        self.param_bytes = None
        self.pstate_off = -1
        self.nsites = 0
        self.clip_off = -1
        self.tensors = []
        self._rows = 0  # layer table rows read

    @property
    def masters(self):
        return self.recipe != "niti"

    def layout(self):
        """Offsets of every tensor as compiler/plan.c assigns them: every area
        64-byte aligned in parameter order; under niti the weights (int16 when
        wide); otherwise the int8 view, the master, the momentum (A/8 bytes
        per element each), the running statistics of batchnorm and l1norm
        (int32 (C, 4)), and after all tensors the exponents (int32 (T, 4));
        under unified the clip sites' state last (int32 (nsites, 4), room
        for one site at least)."""
        top = 0
        esize = 2 if not self.masters and self.weight_bits > 8 else 1
        asize = self.master_bits // 8
        for t in self.tensors:
            t.offset = top
            top = _align(top + t.count * esize)
            if not self.masters:
                continue
            t.master_off = top
            top = _align(top + t.count * asize)
            t.mom_off = top
            top = _align(top + t.count * asize)
            if t.stats:
                t.stats_off = top
                top = _align(top + t.count * 16)
        if self.masters:
            self.pstate_off = top
            top = _align(top + len(self.tensors) * 16)
        if self.recipe == "unified":
            self.clip_off = top
            top = _align(top + max(self.nsites, 1) * 16)
        return top


_RE_MODEL = re.compile(r"^model (\S+)\s+\(fingerprint 0x([0-9a-fA-F]{1,16}), ABI (\d+)\)\s*$")
_RE_INPUT = re.compile(r"^input (\d+)x(\d+)x(\d+) .*, (\d+) classes, compiled batch <= (\d+)\s*$")
_RE_ROW = re.compile(r"^\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*(.*?)\s*$")
_RE_WEIGHTS = re.compile(r"^\((\d+(?:,\d+)*)\) int(8|16) exp (-?\d+) init \+-(\d+)$")
_RE_PARAMS = re.compile(r"^parameters: (\d+) in (\d+) tensors, weights (\d+) bits\s*$")
_RE_MEMORY = re.compile(r"^memory: params .*\((\d+) bytes\), work")
_RE_RECIPE = re.compile(r"^\s+recipe (\S+): masters int(\d+),")
_RE_CLIP = re.compile(r"^clip state: (\d+) DSGC sites, int32 \(\d+, 4\) .* at params byte (\d+)\s*$")


def parse_info(text, source="info"):
    """A ModelInfo from the text `EXE info` prints (runtime/report.c)."""
    mi = ModelInfo(source)

    def bad(what):
        raise CheckpointError(source, "not the output of a nitc training executable's `info` "
                              "(or one this reader does not understand): %s" % what)

    table = False
    clip_at = None
    for line in text.splitlines():
        m = _RE_MODEL.match(line)
        if m:
            mi.name, mi.fingerprint, mi.abi = m.group(1), int(m.group(2), 16), int(m.group(3))
            continue
        m = _RE_INPUT.match(line)
        if m:
            mi.input = tuple(int(m.group(i)) for i in (1, 2, 3))
            mi.classes, mi.batch = int(m.group(4)), int(m.group(5))
            continue
        if re.match(r"^\s+#\s+layer\s+kind", line):
            table = True
            continue
        if table:
            if not line.strip():
                table = mi._rows == 0  # the blank line after the rows ends the table
                continue
            m = _RE_ROW.match(line)
            if not m:
                bad("layer table row %r" % line)
            _add_row(mi, m, bad)
            continue
        m = _RE_PARAMS.match(line)
        if m:
            mi.count, mi.nparams, mi.weight_bits = (int(m.group(i)) for i in (1, 2, 3))
            continue
        m = _RE_MEMORY.match(line)
        if m:
            mi.param_bytes = int(m.group(1))
            continue
        m = _RE_RECIPE.match(line)
        if m:
            mi.recipe, mi.master_bits = m.group(1), int(m.group(2))
            continue
        m = _RE_CLIP.match(line)
        if m:
            mi.nsites, clip_at = int(m.group(1)), int(m.group(2))
    for what, v in (("the model line", mi.name), ("the input line", mi.input), ("the layer table", mi._rows),
                    ("the parameters line", mi.count), ("the memory line", mi.param_bytes)):
        if not v:
            bad("no %s" % what)
    if mi.recipe not in RECIPE_NAMES:
        bad("unknown recipe %r" % mi.recipe)
    if mi.masters and mi.master_bits not in (16, 32):
        bad("masters int%d" % mi.master_bits)
    if (mi.recipe == "unified") != (clip_at is not None):
        bad("a clip state line under recipe %s" % mi.recipe if clip_at is not None
            else "no clip state line under recipe unified (an executable of a nitc before 2026-12-05?)")
    if mi.abi < ABI_MIN or mi.abi > ABI_MAX:
        raise CheckpointError(source, "model %s uses ABI %d; this reader knows ABI %d..%d (a newer nitc may lay "
                              "out its parameters differently)" % (mi.name, mi.abi, ABI_MIN, ABI_MAX))
    if len(mi.tensors) != mi.nparams or sum(t.count for t in mi.tensors) != mi.count:
        bad("the layer table has %d tensors of %d elements, the parameters line says %d of %d"
            % (len(mi.tensors), sum(t.count for t in mi.tensors), mi.nparams, mi.count))
    got = mi.layout()
    if clip_at is not None and clip_at != mi.clip_off:
        raise CheckpointError(source, "the clip state this reader places at params byte %d, the model says %d: "
                              "this reader does not match the nitc that built it" % (mi.clip_off, clip_at))
    if got != mi.param_bytes:
        raise CheckpointError(source, "the parameter layout this reader rebuilds takes %d bytes, the model says "
                              "%d: this reader does not match the nitc that built it" % (got, mi.param_bytes))
    return mi


def _add_row(mi, m, bad):
    idx, layer, kind, _out, params, _acc, wdesc = m.groups()
    mi._rows += 1
    if params == "-":
        if wdesc:
            bad("layer %s has weights but no parameter count" % layer)
        return
    w = _RE_WEIGHTS.match(wdesc)
    if not w:
        bad("layer %s: weights %r" % (layer, wdesc))
    dims = tuple(int(x) for x in w.group(1).split(","))
    count, exp, bound = int(params), int(w.group(3)), int(w.group(4))
    n = len(mi.tensors)
    if kind in WEIGHT_KINDS:
        if len(dims) != (4 if kind == "conv" else 2):
            bad("layer %s: a %s layer with shape %r" % (layer, kind, dims))
        mi.tensors.append(TensorSpec(n, layer, layer, kind, "weight", dims, count, exp, bound))
        prod = 1
        for d in dims:
            prod *= d
        if prod != count:
            bad("layer %s: shape %r holds %d elements, the table says %d" % (layer, dims, prod, count))
    elif kind in NORM_KINDS:
        if dims[0] != count:
            bad("layer %s: %d channels, %d parameters" % (layer, dims[0], count))
        mi.tensors.append(TensorSpec(n, layer + ".gamma", layer, kind, "gamma", (count,), count, exp, bound))
        mi.tensors.append(TensorSpec(n + 1, layer + ".beta", layer, kind, "beta", (count,), count, 0, 0))
    else:
        raise CheckpointError(mi.source, "layer %s is a %s layer with parameters, which this reader does not know "
                              "(a newer nitc?)" % (layer, kind))


def model_info(model):
    """A ModelInfo from a training executable (runs `EXE info`) or from a file
    holding its `info` output (for an executable built for another machine)."""
    if isinstance(model, ModelInfo):
        return model
    path = os.fspath(model)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise CheckpointError(path, "--model wants the training executable or a file holding its `info` "
                                  "output, not a directory or a special file")
        with open(path, "rb") as f:
            head = f.read(6)
    except OSError as e:
        raise CheckpointError(path, "cannot read the model: %s" % (e.strerror or e))
    if head == b"model ":
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                return parse_info(f.read(), path)
        except OSError as e:
            raise CheckpointError(path, "cannot read the model: %s" % (e.strerror or e))
    exe = path if os.sep in path else os.path.join(".", path)
    try:
        r = subprocess.run([exe, "info"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    except (OSError, subprocess.SubprocessError) as e:
        raise CheckpointError(path, "cannot run `%s info` (--model wants the training executable that wrote the "
                              "checkpoint, or a file holding its `info` output): %s"
                              % (path, getattr(e, "strerror", None) or e))
    if r.returncode != 0:
        err = r.stderr.decode("utf-8", "replace").strip().splitlines()
        raise CheckpointError(path, "`%s info` failed (exit %d)%s" % (path, r.returncode,
                                                                       ": " + err[-1] if err else ""))
    return parse_info(r.stdout.decode("utf-8", "replace"), path)


# ------------------------------------------------------------- the reader

class _Bytes:
    """Little-endian fields of the file, with the checks' messages."""

    def __init__(self, path, b):
        self.path, self.b = path, b

    def u32(self, o):
        return int.from_bytes(self.b[o:o + 4], "little")

    def i32(self, o):
        return int.from_bytes(self.b[o:o + 4], "little", signed=True)

    def u64(self, o):
        return int.from_bytes(self.b[o:o + 8], "little")

    def i64(self, o):
        return int.from_bytes(self.b[o:o + 8], "little", signed=True)

    def fail(self, message, offset=None):
        raise CheckpointError(self.path, message, offset)

    def invalid(self, field, offset, v, want):
        at = " (offset %d)" % offset if offset is not None else ""
        self.fail("invalid checkpoint: %s%s is %s, expected %s" % (field, at, v, want), offset)

    def range(self, field, offset, v, lo, hi):
        if v < lo or v > hi:
            self.invalid(field, offset, v, str(lo) if lo == hi else "%d..%d" % (lo, hi))

    def decimal(self, what, n, no, f, fo, max_n, max_f, max_text):
        self.range("the decimal places of %s" % what, fo, f, 0, DEC_F_MAX)
        if n > DEC_N_MAX or n * 10**max_f > max_n * 10**f:
            self.fail("invalid checkpoint: %s (offset %d) is %s, expected 0..%s"
                      % (what, no, "too long" if n > DEC_N_MAX else fmt_decimal(n, f), max_text), no)


def _read_recipe(r):
    """The recipe block at 136 and the limit: {field: (value, offset)}."""
    g = {}
    names = ["batch", "epochs", "act_round", "err_round", "grad_round", "nsched"]
    names += ["mu%d" % i for i in range(MAX_SCHED)] + ["mu_from%d" % i for i in range(MAX_SCHED)]
    names += ["decay", "holdout"]
    for k, name in enumerate(names):
        g[name] = (r.i32(136 + 4 * k), 136 + 4 * k)
    g["limit"] = (r.i64(232), 232)
    return g


def _read_masters(r):
    """Format 3's settings, 336..559: {field: (value, offset)}."""
    g = {}
    for name, o in (("kind", 336), ("master_bits", 340), ("view_round", 344), ("update_round", 348),
                    ("loss_table", 352), ("lr_kind", 356), ("lr_count", 360), ("lr_period", 364)):
        g[name] = (r.i32(o), o)
    for i in range(MAX_SCHED):
        g["lr_n%d" % i] = (r.u64(368 + 8 * i), 368 + 8 * i)
        g["lr_f%d" % i] = (r.i32(432 + 4 * i), 432 + 4 * i)
        g["lr_at%d" % i] = (r.i32(464 + 4 * i), 464 + 4 * i)
    for name, o, get in (("min_n", 496, r.u64), ("min_f", 504, r.i32), ("ratio_f", 508, r.i32),
                         ("warmup", 512, r.i64), ("ratio_n", 520, r.u64), ("momentum_n", 528, r.u64),
                         ("momentum_f", 536, r.i32), ("wdecay_f", 540, r.i32), ("wdecay_n", 544, r.u64),
                         ("hash", 552, r.u64)):
        g[name] = (get(o), o)
    return g


def _settings_hash(s):
    """nitrt_recipe_hash over format 3's settings (int32 fields sign-extended)."""
    v = [s[k][0] for k in ("kind", "master_bits", "view_round", "update_round", "loss_table", "lr_kind",
                           "lr_count")]
    for i in range(MAX_SCHED):
        v += [s["lr_n%d" % i][0], s["lr_f%d" % i][0], s["lr_at%d" % i][0]]
    v += [s[k][0] for k in ("min_n", "min_f", "lr_period", "warmup", "ratio_n", "ratio_f", "momentum_n",
                            "momentum_f", "wdecay_n", "wdecay_f")]
    h = GOLDEN
    for i, x in enumerate(v):
        h = _mix64((h + (x & M64) * GOLDEN + i) & M64)
    return h


def _check_recipe(r, g, s):
    """nitrt_recipe_check: g the recipe block, s format 3's settings (None
    before format 3: all zero)."""
    val = lambda k: g[k][0]
    off = lambda k: g[k][1]
    r.range("the batch", off("batch"), val("batch"), 1, BATCH_MAX)
    r.range("the total epochs", off("epochs"), val("epochs"), 1, EPOCHS_MAX)
    r.range("the activation rounding mode", off("act_round"), val("act_round"), 0, 2)
    r.range("the error rounding mode", off("err_round"), val("err_round"), 0, 2)
    r.range("the gradient rounding mode", off("grad_round"), val("grad_round"), 0, 2)
    n = val("nsched")
    r.range("the number of update-bit schedule entries", off("nsched"), n, 1, MAX_SCHED)
    for i in range(MAX_SCHED):
        mu, fr = g["mu%d" % i], g["mu_from%d" % i]
        if i >= n:
            r.range("unused schedule entry %d" % (i + 1), mu[1], mu[0], 0, 0)
            r.range("unused schedule entry %d" % (i + 1), fr[1], fr[0], 0, 0)
            continue
        r.range("update bits of schedule entry %d" % (i + 1), mu[1], mu[0], MU_MIN, MU_MAX)
        lo = 1 if i == 0 else g["mu_from%d" % (i - 1)][0] + 1
        r.range("the first epoch of schedule entry %d" % (i + 1), fr[1], fr[0], lo, 1 if i == 0 else I32_MAX)
    r.range("decay", off("decay"), val("decay"), 0, 1)
    r.range("the holdout", off("holdout"), val("holdout"), 0, I32_MAX)
    r.range("the limit", off("limit"), val("limit"), 0, I64_MAX)
    if s is None:
        return
    sv = lambda k: s[k][0]
    so = lambda k: s[k][1]
    r.range("the recipe", so("kind"), sv("kind"), 1, len(RECIPE_NAMES) - 1)  # format 3: not niti
    if val("decay") != 0:
        r.invalid("NITI's integer decay", off("decay"), val("decay"), "0 (off) under recipe %s"
                  % RECIPE_NAMES[sv("kind")])
    if sv("master_bits") not in (16, 32):
        r.invalid("the master bits", so("master_bits"), sv("master_bits"), "16 or 32")
    r.range("the view rounding mode", so("view_round"), sv("view_round"), 0, 2)
    r.range("the update rounding mode", so("update_round"), sv("update_round"), 0, 2)
    r.range("the table loss flag", so("loss_table"), sv("loss_table"), 0, 1)
    kind, count = sv("lr_kind"), sv("lr_count")
    r.range("the learning-rate schedule's kind", so("lr_kind"), kind, 0, 1)
    r.range("the learning-rate schedule's entries", so("lr_count"), count, 1, 1 if kind == 1 else MAX_SCHED)
    for i in range(MAX_SCHED):
        ln, lf, la = s["lr_n%d" % i], s["lr_f%d" % i], s["lr_at%d" % i]
        if i >= count:
            for x in (ln, lf, la):
                r.range("unused learning-rate entry %d" % (i + 1), x[1], x[0], 0, 0)
            continue
        r.decimal("learning rate %d" % (i + 1), ln[0], ln[1], lf[0], lf[1], LR_MAX, 0, "1000")
        lo = 1 if i == 0 else s["lr_at%d" % (i - 1)][0] + 1
        r.range("the first epoch of learning rate %d" % (i + 1), la[1], la[0], lo, 1 if i == 0 else I32_MAX)
    if kind == 1:
        r.decimal("the cosine schedule's minimum", sv("min_n"), so("min_n"), sv("min_f"), so("min_f"),
                  sv("lr_n0"), sv("lr_f0"), "its base")
        r.range("the cosine schedule's period", so("lr_period"), sv("lr_period"), 1, EPOCHS_MAX)
    else:
        r.range("the cosine minimum of a piecewise schedule", so("min_n"), sv("min_n"), 0, 0)
        r.range("the decimal places of the cosine minimum of a piecewise schedule", so("min_f"), sv("min_f"), 0, 0)
        r.range("the cosine period of a piecewise schedule", so("lr_period"), sv("lr_period"), 0, 0)
    r.range("the warmup steps", so("warmup"), sv("warmup"), 0, I64_MAX)
    r.decimal("the warmup ratio", sv("ratio_n"), so("ratio_n"), sv("ratio_f"), so("ratio_f"), 1, 0, "1")
    if sv("warmup") == 0:
        r.range("the warmup ratio without warmup", so("ratio_n"), sv("ratio_n"), 0, 0)
        r.range("the decimal places of the warmup ratio without warmup", so("ratio_f"), sv("ratio_f"), 0, 0)
    r.decimal("the momentum", sv("momentum_n"), so("momentum_n"), sv("momentum_f"), so("momentum_f"), 1, 0, "1")
    r.decimal("the weight decay", sv("wdecay_n"), so("wdecay_n"), sv("wdecay_f"), so("wdecay_f"), 1, 0, "1")
    if sv("hash") != _settings_hash(s):
        r.fail("invalid checkpoint: the settings hash at offset 552 (0x%016x) does not match the settings it "
               "follows (0x%016x)" % (sv("hash"), _settings_hash(s)), 552)


def _region_check(r, name, arr, lo, hi, base, size, what):
    """The first element of arr outside lo..hi, as an error."""
    badi = np.flatnonzero((arr < lo) | (arr > hi))
    if badi.size:
        j = int(badi[0])
        r.fail("invalid checkpoint: %s %d of %s is %d, expected %d..%d (file offset %d)"
               % (what, j, name, int(arr[j]), lo, hi, base + size * j), base + size * j)


class Checkpoint:
    """A checkpoint's contents. Header: path, version (format 1..3), abi,
    fingerprint, model (name), epoch (epochs completed), next_epoch, step,
    seed, shuffle_seed, train_used (training samples used), recipe (dict),
    nparams, param_bytes, data (dict, None for format 1), column_shifts (int8
    array or None), records (format 3: one dict per tensor: role and
    exponents), exponents_table (format 3: int32 (T, 4) {master, momentum,
    view, 0}). With the model: model (ModelInfo), specs (TensorSpec list),
    tensors {key: numpy array} and exponents {key: int}: value = m * 2**exp.
    Keys: "<name>.weight" (niti: int8, or int16 for wide weights), "<name>.view"
    (int8), "<name>.master", "<name>.momentum" (int16/int32), "<layer>.running"
    (int32 (C, 4) {mean m, mean e, dev m, dev e}: S31 scalars, each its own
    exponent; dev is the variance for batchnorm, the mean absolute deviation
    for l1norm); names "c1" for weights, "bn1.gamma"/"bn1.beta" for norm
    layers."""

    def __init__(self, path):
        self.path = path
        self.model_info = None
        self.specs = []
        self._tensors = None
        self._exponents = None
        self._keys = None
        self.records = None
        self.exponents_table = None
        self.column_shifts = None
        self.data = None

    @property
    def has_model(self):
        return self._tensors is not None

    def _need_model(self):
        if self._tensors is None:
            raise CheckpointError(self.path, "the checkpoint holds its parameters as one slab without names or "
                                  "shapes: give the model that wrote it (load(path, model=EXE), or --model EXE "
                                  "on the command line: the training executable, or its `info` output)")

    @property
    def tensors(self):
        self._need_model()
        return self._tensors

    @property
    def exponents(self):
        self._need_model()
        return self._exponents

    def float_weights(self, source="trained"):
        """{tensor name: float64 array} of every parameter tensor, value =
        m * 2**exp: under niti the weights; under the recipes with masters the
        masters (source="trained", the values training updates) or the int8
        views the forward pass used at the last step (source="view")."""
        self._need_model()
        out = {}
        for t in self.specs:
            if self.masters:
                key = t.name + (".view" if source == "view" else ".master")
            else:
                key = t.name + ".weight"
            out[t.name] = to_float(self._tensors[key], self._exponents[key])
        return out

    def running_stats(self, layer):
        """(mean, dev) float64 per channel of a batchnorm or l1norm layer's
        running statistics (dev: variance for batchnorm, mean absolute
        deviation for l1norm)."""
        a = self.tensors.get(layer + ".running")
        if a is None:
            raise CheckpointError(self.path, "layer %s has no running statistics" % layer)
        return s31_to_float(a[:, 0], a[:, 1]), s31_to_float(a[:, 2], a[:, 3])

    @property
    def masters(self):
        return self.version == 3

    def arrays(self):
        """Everything for an .npz: the tensors, "<key>.exp" (int32 scalars),
        "exponents" (format 3: int32 (T, 4)), "column_shifts" (CSV models) and
        "summary" (the JSON summary as a string)."""
        self._need_model()
        out = {}
        for k, a in self._tensors.items():
            out[k] = a
            if k in self._exponents:
                out[k + ".exp"] = np.array(self._exponents[k], dtype=np.int32)
        if self.exponents_table is not None:
            out["exponents"] = self.exponents_table
        if self.column_shifts is not None:
            out["column_shifts"] = self.column_shifts
        out["summary"] = np.array(json.dumps(self.summary(), sort_keys=False))
        return out

    def save_npz(self, out):
        """Write arrays() to `out` (atomically: a temporary file renamed)."""
        arrays = self.arrays()
        tmp = "%s.tmp%d" % (out, os.getpid())
        try:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, out)
        except OSError as e:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise CheckpointError(out, "cannot write: %s" % (e.strerror or e))
        return len(arrays)

    def summary(self):
        """The checkpoint as a JSON-ready dict (integers stay integers)."""
        d = {
            "file": self.path, "format": self.version, "abi": self.abi, "model": self.model,
            "fingerprint": "0x%016x" % self.fingerprint, "epoch": self.epoch, "next_epoch": self.next_epoch,
            "step": self.step, "seed": self.seed, "shuffle_seed": self.shuffle_seed,
            "training_samples_used": self.train_used, "recipe": self.recipe, "data": self.data,
            "parameter_tensors": self.nparams, "parameter_bytes": self.param_bytes,
        }
        if self.records is not None:
            d["tensor_records"] = self.records
        if self._tensors is None:
            d["tensors"] = None
            d["tensors_note"] = "the file holds no tensor names or shapes: give --model EXE"
            return d
        rows = []
        for t in self.specs:
            for k in self._keys[t.index]:
                rows.append(self._row(k, t.name, t.layer, t.role))
        if CLIP_KEY in self._tensors:
            rows.append(self._row(CLIP_KEY, None, None, "clip"))
            d["clip_sites"] = self.clip_sites()
        d["tensors"] = rows
        return d

    def _row(self, k, tensor, layer, role):
        a = self._tensors[k]
        return {"key": k, "tensor": tensor, "layer": layer, "role": role, "shape": list(a.shape),
                "dtype": str(a.dtype), "exp": self._exponents.get(k),
                "min": int(a.min()) if a.size else None, "max": int(a.max()) if a.size else None}

    def clip_sites(self):
        """Recipe unified: one dict per DSGC site, {"site", "level" (the held
        clip level l*, None before the first search), "exp" (its exponent
        s*), "d_c_q30", "phi_q30" (the last step's d_c and phi, Q30 integers:
        value = q / 2^30)}; [] under the other recipes."""
        self._need_model()
        a = self._tensors.get(CLIP_KEY)
        if a is None:
            return []
        return [{"site": k, "level": int(a[k, 0]) - 1 if a[k, 0] > 0 else None, "exp": int(a[k, 1]),
                 "d_c_q30": int(a[k, 2]), "phi_q30": int(a[k, 3])} for k in range(a.shape[0])]


def load(path, model=None):
    """Read and check checkpoint `path`. model: None (header only), a
    training executable's path, a file holding its `info` output, or a
    ModelInfo. Raises CheckpointError."""
    _need_numpy()
    path = os.fspath(path)
    mi = model_info(model) if model is not None else None
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise CheckpointError(path, "cannot read a checkpoint: it is %s, not a regular file"
                                  % ("a directory" if stat.S_ISDIR(st.st_mode) else "a FIFO, device or socket"))
        with open(path, "rb") as f:
            b = f.read()
    except OSError as e:
        raise CheckpointError(path, "cannot read a checkpoint: %s" % (e.strerror or e))
    return _parse(path, b, mi)


def _parse(path, b, mi):
    r = _Bytes(path, b)
    n = len(b)
    ck = Checkpoint(path)
    if n < 8 or b[:8] != MAGIC:
        r.fail("not a nitc checkpoint: expected the magic bytes NITCKPT\\0 at offset 0, found %r" % bytes(b[:8]), 0)
    if n < 12:
        r.fail("truncated checkpoint: %d bytes, expected at least %d" % (n, HEADER_V1 + 4))
    version = r.u32(8)
    if version not in READS_VERSIONS:
        r.fail("checkpoint format version %d (offset 8); this reader reads versions 1 to 3" % version, 8)
    if mi is not None and (version == 3) != mi.masters:
        r.fail("checkpoint format version %d (offset 8) is for %s; model %s uses recipe %s (format %d)"
               % (version, "recipes with masters" if version == 3 else "recipe niti", mi.name, mi.recipe,
                  3 if mi.masters else 2), 8)
    header = {1: HEADER_V1, 2: HEADER_V2, 3: TENSORS_V3}[version]
    if version == 3:
        if n < HEADER_V2 + 4:
            r.fail("truncated checkpoint: %d bytes, a format-3 header alone takes more than %d"
                   % (n, TENSORS_V3 + 4))
        nt = r.u32(240)
        r.range("the number of parameter tensors", 240, nt, 1, MAX_PARAMS)
        header = TENSORS_V3 + TENSOR_REC * nt
    if n < header + 4:
        r.fail("truncated checkpoint: %d bytes, its format-%d header and checksum alone take %d"
               % (n, version, header + 4))
    size = r.u64(16)
    if size != n:
        r.fail("truncated or corrupt checkpoint: the header says %d bytes (offset 16), the file has %d"
               % (size, n), 16)
    want, got = r.u32(n - 4), zlib.crc32(b[:n - 4]) & 0xFFFFFFFF
    if want != got:
        r.fail("corrupt checkpoint: checksum mismatch (stored 0x%08x at offset %d, computed 0x%08x over bytes "
               "0..%d)" % (want, n - 4, got, n - 5), n - 4)
    ck.version, ck.abi, ck.fingerprint = version, r.u32(12), r.u64(24)
    name = bytes(b[32:96])
    ck.model = name.split(b"\0", 1)[0].decode("utf-8", "replace")
    abi_max = mi.abi if mi is not None else ABI_MAX
    if ck.abi < ABI_MIN or ck.abi > abi_max:
        r.fail("checkpoint was written with ABI %d (offset 12), %s reads ABI %d..%d"
               % (ck.abi, "model %s uses ABI %d and" % (mi.name, mi.abi) if mi is not None else "this reader",
                  ABI_MIN, abi_max), 12)
    if mi is not None and ck.fingerprint != mi.fingerprint:
        r.fail("checkpoint was written by model %s (fingerprint 0x%016x, offset 24), the model given is %s "
               "(fingerprint 0x%016x, from %s)" % (ck.model, ck.fingerprint, mi.name, mi.fingerprint, mi.source), 24)
    ck.nparams, ck.param_bytes = r.u32(240), r.u64(248)
    if mi is not None and (ck.param_bytes != mi.param_bytes or ck.nparams != len(mi.tensors)):
        r.fail("checkpoint parameter layout (offsets 240, 248) does not match model %s (%d bytes in %d tensors, "
               "the model has %d in %d)" % (mi.name, ck.param_bytes, ck.nparams, mi.param_bytes, len(mi.tensors)),
               240)
    g = _read_recipe(r)
    s = _read_masters(r) if version == 3 else None
    ck.epoch, ck.next_epoch, ck.step = r.u32(96), r.u32(100), r.u64(104)
    ck.seed, ck.shuffle_seed, ck.train_used = r.u64(112), r.u64(120), r.i64(128)
    k = l = 0
    if version >= 2:
        k, l = r.u64(272), r.u32(328)
    pbytes = ck.param_bytes
    rest = n - header - 4 - pbytes
    if n - header - 4 < pbytes or k > rest or l > rest - k or k + l != rest or l > PATH_MAX:
        r.fail("invalid checkpoint: %d parameter bytes (offset 248), %d column shifts (offset 272) and a %d-byte "
               "data directory (offset 328) do not fit its %d bytes (expected %d)"
               % (pbytes, k, l, n, header + pbytes + k + l + 4), 248)
    ps = header  # the parameters' file offset
    if b.find(b"\0", ps + pbytes + k, ps + pbytes + k + l) >= 0:
        r.fail("invalid checkpoint: the data directory (offset %d) holds a NUL byte" % (ps + pbytes + k),
               ps + pbytes + k)
    _check_fields(r, ck, g, s, mi, k)
    ck.recipe = _recipe_summary(g, s, ck.seed, version == 2 and r.u32(332) == 1)
    if version >= 2:
        ck.data = {
            "train_format": FORMAT_NAMES.get(r.i32(256), str(r.i32(256))),
            "test_format": FORMAT_NAMES.get(r.i32(292), str(r.i32(292))),
            "quantization": "columns" if r.i32(260) == QUANT_COLUMNS else "pixels",
            "input_exp": r.i32(264), "column_shifts": k,
            "input": [r.i32(280), r.i32(284), r.i32(288)],
            "train_samples": r.i64(296), "train_hash": "0x%016x" % r.u64(304),
            "test_samples": r.i64(312), "test_hash": "0x%016x" % r.u64(320),
            "directory": bytes(b[ps + pbytes + k:ps + pbytes + k + l]).decode("utf-8", "replace"),
        }
        if k:
            ck.column_shifts = np.frombuffer(b, dtype=np.int8, count=k, offset=ps + pbytes).copy()
    if version == 3:
        _check_records(r, ck, s, mi, ps)
    if mi is not None:
        _tensors(r, ck, mi, ps)
    return ck


def _check_fields(r, ck, g, s, mi, k):
    """check_fields of runtime/ckpt.c."""
    name = bytes(r.b[32:96])
    if b"\0" not in name:
        r.invalid("the model name's length", 32, 64, "at most 63 bytes")
    end = name.index(b"\0")
    for i in range(end, 64):
        if name[i]:
            r.invalid("a padding byte of the model name", 32 + i, name[i], "0")
    r.range("a reserved field", 244, r.u32(244), 0, 0)
    _check_recipe(r, g, s)
    epochs = g["epochs"][0]
    r.range("the epochs completed", 96, ck.epoch, 0, epochs)
    r.range("the next epoch of the data order", 100, ck.next_epoch, ck.epoch + 1, ck.epoch + 1)
    r.range("the global step", 104, ck.step, ck.epoch, I64_MAX)
    if ck.shuffle_seed != ck.seed:
        r.fail("invalid checkpoint: the shuffle seed %d (offset 120) differs from the seed %d (offset 112)"
               % (ck.shuffle_seed, ck.seed), 120)
    r.range("the training samples used", 128, ck.train_used, 1, U32_MAX)
    limit, holdout = g["limit"][0], g["holdout"][0]
    if limit > 0:
        r.range("the training samples used plus the holdout", 128, ck.train_used + holdout, 1, limit)
    if ck.version < 2:
        return
    c, h, w = r.i32(280), r.i32(284), r.i32(288)
    if mi is not None:
        dim = mi.input[0] * mi.input[1] * mi.input[2]
    else:
        dim = c * h * w if min(c, h, w) > 0 else -1
    fmt = r.i32(256)
    r.range("the training data format", 256, fmt, FMT_IDX, FMT_CSV)
    r.range("the test data format", 292, r.i32(292), fmt, fmt)
    kind = QUANT_COLUMNS if fmt == FMT_CSV else QUANT_PIXELS
    r.range("the quantization", 260, r.i32(260), kind, kind)
    r.range("the input exponent", 264, r.i32(264), IN_EXP, IN_EXP)
    r.range("a reserved field", 268, r.u32(268), 0, 0)
    want = dim if kind == QUANT_COLUMNS else 0
    r.range("the number of column shifts", 272, k, want, want)
    if mi is not None:
        r.range("the input channels", 280, c, mi.input[0], mi.input[0])
        r.range("the input height", 284, h, mi.input[1], mi.input[1])
        r.range("the input width", 288, w, mi.input[2], mi.input[2])
    else:
        for field, o, v in (("the input channels", 280, c), ("the input height", 284, h),
                            ("the input width", 288, w)):
            r.range(field, o, v, 1, I32_MAX)
    r.range("the training set's sample count", 296, r.i64(296), ck.train_used + holdout, I64_MAX)
    r.range("the test set's sample count", 312, r.i64(312), 1, I64_MAX)
    if ck.version == 2:  # the loss; format 3 records it with the settings of recipes with masters
        r.range("the loss", 332, r.u32(332), 0, 1)
    else:
        r.range("a reserved field", 332, r.u32(332), 0, 0)
    if k:
        base = len(r.b) - 4 - r.u32(328) - k
        sh = np.frombuffer(r.b, dtype=np.int8, count=k, offset=base)
        badi = np.flatnonzero((sh < SHIFT_MIN) | (sh > SHIFT_MAX))
        if badi.size:
            j = int(badi[0])
            r.invalid("the shift of column %d" % (j + 1), base + j, int(sh[j]), "%d..%d" % (SHIFT_MIN, SHIFT_MAX))


def _unified_pstate(r, nt, top, ps):
    """Recipe unified without its model: the clip sites' state (one site at
    least, at most one per tensor; their number is the model's) closes the
    slab, the exponents before it. The offset whose exponents are the
    records' (master, momentum and view exponent, a zero fourth); the one
    for a single site when none is, so that the records' checks name the
    first mismatch."""
    cands = sorted({top - _align(n * 16) for n in range(1, nt + 1)}, reverse=True)
    cands = [c for c in cands if c >= 0] or [top - SLAB_ALIGN]
    for c in cands:
        ex = np.frombuffer(r.b, dtype="<i4", count=4 * nt, offset=ps + c).reshape(nt, 4)
        rec = np.frombuffer(r.b, dtype="<i4", count=8 * nt, offset=TENSORS_V3).reshape(nt, 8)
        if (np.array_equal(ex[:, 0], rec[:, 2]) and np.array_equal(ex[:, 1], rec[:, 4])
                and np.array_equal(ex[:, 2], rec[:, 6]) and not ex[:, 3].any()):
            return c
    return cands[0]


def _recipe_summary(g, s, seed, table2=False):
    """The recipe as a dict; table2: a format-2 (niti) checkpoint trained with the table softmax."""
    v = lambda k: g[k][0]
    d = {"kind": RECIPE_NAMES[s["kind"][0]] if s else "niti", "batch": v("batch"), "epochs": v("epochs"),
         "seed": seed,
         "rounding": {"act": ROUND_NAMES[v("act_round")], "err": ROUND_NAMES[v("err_round")],
                      "grad": ROUND_NAMES[v("grad_round")]},
         "holdout": v("holdout"), "limit": v("limit")}
    if s is None:
        d["update_bits"] = [{"bits": v("mu%d" % i), "from_epoch": v("mu_from%d" % i)} for i in range(v("nsched"))]
        d["decay"] = bool(v("decay"))
        if table2:  # NITI's softmax unless said, as the runtime's log
            d["loss"] = "table softmax"
        return d
    sv = lambda k: s[k][0]
    d["master_bits"] = sv("master_bits")
    d["view_rounding"] = ROUND_NAMES[sv("view_round")]
    d["update_rounding"] = ROUND_NAMES[sv("update_round")]
    d["loss"] = "table softmax" if sv("loss_table") else "softmax"
    if sv("lr_kind") == 1:
        d["lr"] = {"kind": "cosine", "base": fmt_decimal(sv("lr_n0"), sv("lr_f0")), "period": sv("lr_period"),
                   "min": fmt_decimal(sv("min_n"), sv("min_f"))}
    else:
        d["lr"] = {"kind": "piecewise",
                   "entries": [{"lr": fmt_decimal(sv("lr_n%d" % i), sv("lr_f%d" % i)), "from_epoch": sv("lr_at%d" % i)}
                               for i in range(sv("lr_count"))]}
    d["warmup"] = ({"steps": sv("warmup"), "ratio": fmt_decimal(sv("ratio_n"), sv("ratio_f"))}
                   if sv("warmup") > 0 else None)
    d["momentum"] = fmt_decimal(sv("momentum_n"), sv("momentum_f"))
    d["weight_decay"] = fmt_decimal(sv("wdecay_n"), sv("wdecay_f"))
    d["settings_hash"] = "0x%016x" % sv("hash")
    return d


def _check_records(r, ck, s, mi, ps):
    """Format 3's tensor records: their count, and each against the model
    (when given) and the exponents in the slab."""
    nt = ck.nparams
    r.range("the parameter tensor records", 560, r.u32(560), nt, nt)
    r.range("a reserved field", 564, r.u32(564), 0, 0)
    A = s["master_bits"][0]
    if mi is not None:
        r.range("the recipe", 336, s["kind"][0], RECIPE_NAMES.index(mi.recipe), RECIPE_NAMES.index(mi.recipe))
        r.range("the master bits", 340, A, mi.master_bits, mi.master_bits)
        pstate = mi.pstate_off
    else:  # the exponents close the slab (compiler/plan.c)
        pstate = ck.param_bytes - _align(nt * 16)
        if pstate < 0:
            r.fail("invalid checkpoint: %d parameter bytes (offset 248) cannot hold the exponents of %d tensors"
                   % (ck.param_bytes, nt), 248)
        if s["kind"][0] == RECIPE_NAMES.index("unified"):
            pstate = _unified_pstate(r, nt, pstate, ps)
    ex = np.frombuffer(r.b, dtype="<i4", count=4 * nt, offset=ps + pstate).astype(np.int32).reshape(nt, 4)
    ck.exponents_table = ex
    ck.records = []
    for p in range(nt):
        o = TENSORS_V3 + TENSOR_REC * p
        t = mi.tensors[p] if mi is not None else None
        tn = t.name if t else str(p)
        f = lambda what: "%s of tensor %s" % (what, tn)
        role = r.u32(o)
        if t:
            want = ROLE_NAMES.index(t.role)
            r.range(f("the role"), o, role, want, want)
        else:
            r.range(f("the role"), o, role, 0, 2)
        r.range(f("the master bits"), o + 4, r.u32(o + 4), A, A)
        r.range(f("the master exponent"), o + 8, r.i32(o + 8), int(ex[p, 0]), int(ex[p, 0]))
        mom = r.u32(o + 12)
        if t:
            r.range(f("the momentum flag"), o + 12, mom, int(t.mom_off >= 0), int(t.mom_off >= 0))
        else:
            r.range(f("the momentum flag"), o + 12, mom, 0, 1)
        r.range(f("the momentum exponent"), o + 16, r.i32(o + 16), int(ex[p, 1]), int(ex[p, 1]))
        ch = r.u32(o + 20)
        if t:
            want = t.count if t.stats_off >= 0 else 0
            r.range(f("the running statistics' channels"), o + 20, ch, want, want)
        r.range(f("the view exponent"), o + 24, r.i32(o + 24), int(ex[p, 2]), int(ex[p, 2]))
        r.range(f("a reserved field"), o + 28, r.u32(o + 28), 0, 0)
        ck.records.append({"tensor": tn, "role": ROLE_NAMES[role], "master_exp": int(ex[p, 0]),
                           "momentum": bool(mom), "momentum_exp": int(ex[p, 1]), "running_channels": ch,
                           "view_exp": int(ex[p, 2])})


def _tensors(r, ck, mi, ps):
    """Every tensor out of the slab, checked as check_params of runtime/ckpt.c:
    values in range, running statistics valid S31, padding zero."""
    b = r.b
    regions = []  # (offset, element bytes, key, dtype, lo, hi, shape, exp, spec, what)
    masters = mi.masters
    A = mi.master_bits
    ex = ck.exponents_table
    keys = []
    for t in mi.tensors:
        kk = []
        if not masters:
            wide = mi.weight_bits > 8
            lim = 2**(mi.weight_bits - 1) - 1 if wide else 127
            regions.append((t.offset, 2 if wide else 1, t.name + ".weight", "<i2" if wide else "i1", -lim, lim,
                            t.shape, t.exp - (mi.weight_bits - 8 if wide else 0), t, "weight"))
            kk.append(t.name + ".weight")
        else:
            p = t.index
            lim = 2**(A - 1) - 1
            wd = "<i2" if A == 16 else "<i4"
            regions.append((t.offset, 1, t.name + ".view", "i1", -127, 127, t.shape, int(ex[p, 2]), t,
                            "view element"))
            regions.append((t.master_off, A // 8, t.name + ".master", wd, -lim, lim, t.shape, int(ex[p, 0]), t,
                            "master element"))
            kk += [t.name + ".view", t.name + ".master"]
            if t.mom_off >= 0:
                regions.append((t.mom_off, A // 8, t.name + ".momentum", wd, -lim, lim, t.shape, int(ex[p, 1]), t,
                                "momentum element"))
                kk.append(t.name + ".momentum")
            if t.stats_off >= 0:
                regions.append((t.stats_off, 4, t.layer + ".running", "<i4", None, None, (t.count, 4), None, t,
                                "running statistic"))
                kk.append(t.layer + ".running")
        keys.append(kk)
    if masters:
        regions.append((mi.pstate_off, 4, None, "<i4", None, None, (len(mi.tensors), 4), None, None, "exponent"))
    if mi.clip_off >= 0 and mi.nsites > 0:  # unified: {l* + 1, s*, d_c, phi} per site
        regions.append((mi.clip_off, 4, CLIP_KEY, "<i4", -I32_MAX, I32_MAX, (mi.nsites, 4), None, None, "clip state"))
    regions.sort(key=lambda x: x[0])
    tensors, exps = {}, {}
    pos = 0
    for i in range(len(regions) + 1):
        end = regions[i][0] if i < len(regions) else ck.param_bytes
        if end > pos:
            pad = np.frombuffer(b, dtype=np.uint8, count=end - pos, offset=ps + pos)
            nz = np.flatnonzero(pad)
            if nz.size:
                j = pos + int(nz[0])
                r.fail("invalid checkpoint: padding byte %d of the parameters is %d, expected 0 (file offset %d)"
                       % (j, int(pad[nz[0]]), ps + j), ps + j)
        if i == len(regions):
            break
        off, size, key, dt, lo, hi, shape, exp, t, what = regions[i]
        count = 1
        for d in shape:
            count *= d
        base = ps + off
        a = np.frombuffer(b, dtype=dt, count=count, offset=base)
        native = {1: np.int8, 2: np.int16, 4: np.int32}[size]
        a = a.astype(native)
        tn = "tensor %s" % t.name if t else "the clip sites" if what == "clip state" else "the exponents"
        if what == "running statistic":
            pairs = a.reshape(-1, 2).astype(np.int64)
            m, e = pairs[:, 0], pairs[:, 1]
            zero_bad = np.flatnonzero((m == 0) & (e != 0))
            am = np.abs(m)
            norm_bad = np.flatnonzero((m != 0) & ((am < 2**30) | (am >= 2**31)))
            for idx, msg in ((zero_bad, "is 0 at exponent %d, expected exponent 0"),
                             (norm_bad, "has mantissa %d, expected 0 or 2^30 <= |m| < 2^31")):
                if idx.size:
                    j = int(idx[0])
                    val = int(e[j]) if msg.startswith("is 0") else int(m[j])
                    r.fail("invalid checkpoint: running statistic %d of %s (channel %d, the %s) %s (file offset %d)"
                           % (j, tn, j // 2, "mean" if j % 2 == 0 else "deviation", msg % val, base + 8 * j),
                           base + 8 * j)
        elif what == "exponent":
            col = a.reshape(-1, 4)[:, 3]
            nz = np.flatnonzero(col)
            if nz.size:
                j = int(nz[0]) * 4 + 3
                r.fail("invalid checkpoint: exponent %d of the exponents is %d, expected 0 (file offset %d)"
                       % (j, int(col[nz[0]]), base + 4 * j), base + 4 * j)
        else:
            _region_check(r, tn, a, lo, hi, base, size, what)
        if key is not None:
            tensors[key] = a.reshape(shape)
            if exp is not None:
                exps[key] = exp
        pos = off + size * count
    # dict in parameter order, whatever the slab order
    ordered = {}
    for kk in keys:
        for key in kk:
            ordered[key] = tensors[key]
    if CLIP_KEY in tensors:
        ordered[CLIP_KEY] = tensors[CLIP_KEY]
    ck.model_info, ck.specs = mi, mi.tensors
    ck._keys = keys
    ck._tensors, ck._exponents = ordered, exps


# ------------------------------------------------------------ command line

def _text(ck):
    d = ck.summary()
    rc = d["recipe"]
    out = []
    w = out.append
    w("checkpoint %s: format %d, ABI %d" % (ck.path, ck.version, ck.abi))
    w("model %s  (fingerprint %s)" % (ck.model, d["fingerprint"]))
    w("epoch %d of %d completed, step %d, seed %d, %d training samples used"
      % (ck.epoch, rc["epochs"], ck.step, ck.seed, ck.train_used))
    w("recipe %s: batch %d, epochs %d, rounding act %s, err %s, grad %s; holdout %d; limit %s"
      % (rc["kind"], rc["batch"], rc["epochs"], rc["rounding"]["act"], rc["rounding"]["err"],
         rc["rounding"]["grad"], rc["holdout"], rc["limit"] or "none"))
    if rc["kind"] == "niti":
        sched = ", ".join(("%d" % e["bits"]) if i == 0 else "%d from epoch %d" % (e["bits"], e["from_epoch"])
                          for i, e in enumerate(rc["update_bits"]))
        w("        update bits %s; decay %s%s" % (sched, "on" if rc["decay"] else "off",
                                                 "; loss table softmax" if "loss" in rc else ""))
    else:
        lr = rc["lr"]
        if lr["kind"] == "cosine":
            lrs = "cosine(%s, period=%d, min=%s)" % (lr["base"], lr["period"], lr["min"])
        else:
            lrs = " then ".join(e["lr"] if i == 0 else "%s at %d" % (e["lr"], e["from_epoch"])
                                for i, e in enumerate(lr["entries"]))
        w("        masters int%d, rounding view %s, update %s; loss %s"
          % (rc["master_bits"], rc["view_rounding"], rc["update_rounding"], rc["loss"]))
        wu = "; warmup steps(%d, ratio=%s)" % (rc["warmup"]["steps"], rc["warmup"]["ratio"]) if rc["warmup"] else ""
        w("        lr %s%s; momentum %s; weight decay %s" % (lrs, wu, rc["momentum"], rc["weight_decay"]))
    da = ck.data
    if da is None:
        w("data: not recorded (format 1)")
    else:
        q = ("pixels (8-bit values p enter as p >> 1)" if da["quantization"] == "pixels"
             else "per-column shifts (%d columns)" % da["column_shifts"])
        w("input %s at exponent %d; quantization %s" % ("x".join(map(str, da["input"])), da["input_exp"], q))
        w("data: train %s, %d samples, content %s; test %s, %d samples, content %s"
          % (da["train_format"], da["train_samples"], da["train_hash"], da["test_format"], da["test_samples"],
             da["test_hash"]))
        w("      directory %s" % (da["directory"] or "(not recorded)"))
        if ck.column_shifts is not None:
            sh = ck.column_shifts
            shown = " ".join(map(str, sh.tolist())) if sh.size <= 32 else "%d..%d" % (sh.min(), sh.max())
            w("      column shifts (x_j = round(v_j * 2^-shift_j)): %s" % shown)
    w("parameters: %d tensors in %d bytes" % (ck.nparams, ck.param_bytes))
    if not ck.has_model:
        if ck.records:
            w("")
            w("  %-4s %-6s %10s %12s %10s %9s" % ("#", "role", "master exp", "momentum exp", "view exp", "channels"))
            for i, rec in enumerate(ck.records):
                w("  %-4d %-6s %10d %12s %10d %9s" % (i, rec["role"], rec["master_exp"],
                                                      rec["momentum_exp"] if rec["momentum"] else "-",
                                                      rec["view_exp"], rec["running_channels"] or "-"))
        w("")
        w("tensors: their names, shapes and layout are not in the file; give --model EXE (the training")
        w("executable that wrote it, or a file holding its `info` output) to read them")
        return "\n".join(out) + "\n"
    w("")
    kw = max([len("tensor")] + [len(row["key"]) for row in d["tensors"]])
    fmt = "  %-" + str(kw) + "s  %-16s %-6s %5s %12s %12s"
    w(fmt % ("tensor", "shape", "dtype", "exp", "min", "max"))
    for row in d["tensors"]:
        shape = "(" + ",".join(map(str, row["shape"])) + ")"
        w(fmt % (row["key"], shape, row["dtype"], "-" if row["exp"] is None else row["exp"], row["min"], row["max"]))
    if any(k.endswith(".running") for k in ck.tensors):
        w("  (.running: int32 {mean m, mean e, dev m, dev e} per channel, value m * 2^e)")
    if CLIP_KEY in ck.tensors:
        w("  (%s: int32 {l* + 1, s*, d_c, phi} per DSGC site of recipe unified, d_c and phi in Q30)" % CLIP_KEY)
        for c in d["clip_sites"]:
            if c["level"] is None:
                w("  site %-3d no level held yet (no search has run)" % c["site"])
            else:
                w("  site %-3d level %4d at exponent %4d  d_c %.6f  phi %.6f"
                  % (c["site"], c["level"], c["exp"], c["d_c_q30"] / Q30, c["phi_q30"] / Q30))
    w("values are m * 2^exp")
    return "\n".join(out) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="nitckpt.py", description="Read a nitc checkpoint: summary, JSON, or every tensor as numpy arrays.",
        epilog="The checkpoint holds no tensor names or shapes: tensors need --model EXE, the training "
               "executable that wrote it (its `info` is run), or a file holding that `info` output. "
               "See docs/runtime.md, \"Reading checkpoints outside nitc\".")
    ap.add_argument("ckpt", metavar="CKPT")
    ap.add_argument("--model", metavar="EXE", help="the training executable (or its saved `info` output)")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    ap.add_argument("--npz", metavar="OUT.npz", help="write every tensor and exponent to OUT.npz (needs --model)")
    a = ap.parse_args(argv)
    if np is None:
        sys.stderr.write("nitckpt: error: %s\n" % NO_NUMPY)
        return 1
    try:
        if a.npz and not a.model:
            raise CheckpointError(a.ckpt, "--npz needs --model EXE: the checkpoint holds its parameters as one "
                                  "slab without names or shapes, which only the training executable that wrote "
                                  "it knows (give it, or a file holding its `info` output)")
        ck = load(a.ckpt, a.model)
        if a.json:
            sys.stdout.write(json.dumps(ck.summary(), indent=2) + "\n")
        else:
            sys.stdout.write(_text(ck))
        if a.npz:
            n = ck.save_npz(a.npz)
            sys.stderr.write("nitckpt: wrote %s (%d arrays)\n" % (a.npz, n))
    except CheckpointError as e:
        sys.stderr.write("nitckpt: error: %s\n" % e)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 1
    except Exception as e:  # a bug of this reader: still one line, not a traceback
        sys.stderr.write("nitckpt: error: %s: internal error of the reader (%s: %s); please report it\n"
                         % (a.ckpt, type(e).__name__, e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
