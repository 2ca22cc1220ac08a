#!/usr/bin/env python3
"""The checkpoint reader scripts/nitckpt.py against what the runtime holds.

    check.py BUILD_DIR MKDATA SOURCE_DIR WORK_DIR    (run.sh picks the Python)

Models, each built with nitc and trained 2 short epochs on synthetic data
(--save, --save-init, --log): lenet5 (niti, int8), lenet5 with int16 wide
weights, lenet5_ghaffari (int16 masters), resnet_bn (masters, batchnorm), resnet_bn
with int32 masters, resnet_l1 (shiftquant, l1norm), lenet5_unified searching its
clips every 2 steps, and a small dense model on CSV data (column shifts). The
oracles, none of them the reader's own code:

  - export --load CKPT writes the int8 weights of evaluation as C arrays with
    their exponents. Under niti with 8-bit weights they are the checkpoint's
    weights: equal, element for element. With wide weights they are the
    pseudo-rounded views R(W, 8): each the floor or the ceiling of W / 2^8.
    Under ghaffari they are the views of the masters at the evaluation step,
    which the test pass after every epoch also leaves in the params slab, so
    the checkpoint's views equal them too. A norm layer is written as a
    table of S31 values instead (checked here for their normal form; the
    exported logits themselves are the export tests').
  - Masters and views: every view is RQ of its master, the floor or the
    ceiling of M / 2^(view exp - master exp) (exactly M / 2^k when exact).
  - The initial state (--save-init) follows the init rule, recomputed here
    from the seed with the counter-based generator of nitabi.h: NITI's
    weights, the 15-bit masters, gamma = 2^(A-2) at 2 - A, beta and the
    momenta zero, running mean 0 and variance 1 (S31 (2^30, -30)).
  - `info`: names, shapes, counts, exponents, the fingerprint, the slab size,
    the recipe.
  - `inspect CKPT` (the runtime's own reading): under unified, every clip
    site's held level, its exponent, d_c and phi.
  - The --log file: the step after the last epoch and, under ghaffari, every
    tensor's master exponent ("master_exp").
  - The runtime's own checks: files the tests damage are refused by the
    runtime (eval) and the reader alike, and a format-1 file made from a
    format-2 one loads in both.
"""
import contextlib
import io
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import traceback
import zlib

import numpy as np

build, mkdata, src, work = sys.argv[1:5]
sys.path.insert(0, os.path.join(src, "scripts"))
import nitckpt  # noqa: E402

READER = os.path.join(src, "scripts", "nitckpt.py")
NITC = os.path.join(build, "compiler", "nitc")
M64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
SEED = 5

fails = 0
total = 0


def check(name, ok, detail=""):
    global fails, total
    total += 1
    if ok:
        print("ok   " + name)
    else:
        fails += 1
        print("FAIL " + name + (": " + str(detail) if detail != "" else ""))
    return ok


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, **kw)


def reader(*args):
    """The reader as a user runs it: its own process."""
    return run([sys.executable, READER] + list(args))


def reader_call(*args):
    """The reader's main() called here, its output captured: what reader()
    gives, without a Python start and numpy import per call (the damage
    and fuzz loops make some 250 calls). An exception escaping main() is
    what a traceback would be in its own process."""
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = nitckpt.main(list(args))
    except SystemExit as e:  # argparse
        rc = e.code if isinstance(e.code, int) else 1
    except Exception:
        err.write("Traceback (in process)\n" + traceback.format_exc())
        rc = 1
    return subprocess.CompletedProcess(args, rc, out.getvalue(), err.getvalue())


def die(msg):
    print("FAIL " + msg)
    sys.exit(1)


# ------------------------------------------------------- the generator

def mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def nit_key(seed, step, tensor):
    return mix64((mix64((mix64((seed + GOLDEN) & M64) + step) & M64) + tensor) & M64)


def init_values(seed, p, count, bound):
    """(nit_draw(nit_key(seed, NIT_STEP_INIT, NIT_TID_INIT(p)), j) mod (2 bound + 1)) - bound."""
    key = np.uint64(nit_key(seed, M64, (0xFFFE0000 + p) & 0xFFFFFFFF))
    j = np.arange(count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = key + (j + np.uint64(1)) * np.uint64(GOLDEN)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z % np.uint64(2 * bound + 1)).astype(np.int64) - bound


# ------------------------------------------------------------- oracles

NORMS = ("batchnorm", "l1norm", "layernorm", "l1layernorm")


def info_facts(exe):
    """What `exe info` says, parsed here independently of the reader."""
    out = run([exe, "info"]).stdout
    f = {"text": out, "tensors": []}
    m = re.search(r"^model (\S+)\s+\(fingerprint 0x([0-9a-f]+), ABI (\d+)\)", out, re.M)
    f["name"], f["fingerprint"], f["abi"] = m.group(1), int(m.group(2), 16), int(m.group(3))
    f["param_bytes"] = int(re.search(r"^memory: params [^(]*\((\d+) bytes\)", out, re.M).group(1))
    f["batch"] = int(re.search(r"^recipe: .*, batch (\d+),", out, re.M).group(1))
    mm = re.search(r"^\s+recipe (\S+): masters int(\d+)", out, re.M)
    f["master_bits"] = int(mm.group(2)) if mm else 0
    f["recipe"] = mm.group(1) if mm else "niti"
    f["weight_bits"] = int(re.search(r"weights (\d+) bits", out).group(1))
    for line in out.splitlines():
        r = re.match(r"\s+\d+\s+(\S+)\s+(\S+)\s+\S+\s+(\d+)\s+\S+\s+\(([\d,]+)\) int(\d+) exp (-?\d+) init \+-(\d+)",
                     line)
        if not r:
            continue
        layer, kind = r.group(1), r.group(2)
        dims = tuple(int(x) for x in r.group(4).split(","))
        exp, bound = int(r.group(6)), int(r.group(7))
        if kind in NORMS:
            f["tensors"].append(dict(name=layer + ".gamma", layer=layer, kind=kind, role="gamma", shape=dims[:1],
                                     exp=exp, bound=bound))
            f["tensors"].append(dict(name=layer + ".beta", layer=layer, kind=kind, role="beta", shape=dims[:1],
                                     exp=0, bound=0))
        else:
            f["tensors"].append(dict(name=layer, layer=layer, kind=kind, role="weight", shape=dims, exp=exp,
                                     bound=bound))
    return f


def parse_export(path, cname):
    """{p: (tensor name, shape, exponent, int64 values)} of export's C file."""
    txt = open(path).read()
    out = {}
    pat = r"/\* (\S+): \(([\d, ]+)\) at 2\^(-?\d+) \*/\nstatic const int8_t %s_w(\d+)\[(\d+)\] = \{([^}]*)\}" % cname
    for m in re.finditer(pat, txt):
        vals = np.array([int(x) for x in m.group(6).split(",") if x.strip()], dtype=np.int64)
        shape = tuple(int(x) for x in m.group(2).split(","))
        if len(vals) != int(m.group(5)):
            die("%s: array %s has %d values, declared %s" % (path, m.group(4), len(vals), m.group(5)))
        out[int(m.group(4))] = (m.group(1), shape, int(m.group(3)), vals)
    return out


def parse_norm_tables(path, cname):
    """{layer: int64 values} of export's norm-layer tables."""
    txt = open(path).read()
    pat = r"/\* (\S+): \S+, \((\d+) \+ 1, 4\) [^*]*\*/\nstatic const int32_t %s_n\d+\[(\d+)\] = \{([^}]*)\}" % cname
    out = {}
    for m in re.finditer(pat, txt):
        vals = np.array([int(x) for x in m.group(4).split(",") if x.strip()], dtype=np.int64)
        if len(vals) != int(m.group(3)) or len(vals) != 4 * (int(m.group(2)) + 1):
            die("%s: table of %s has %d values, declared %s" % (path, m.group(1), len(vals), m.group(3)))
        out[m.group(1)] = vals
    return out


def rounds_to(v, w, k, lim=127):
    """Every v is the floor or the ceiling of w / 2^k (saturated to +-lim),
    the floor where the division is exact."""
    v = np.asarray(v, dtype=np.int64).ravel()
    w = np.asarray(w, dtype=np.int64).ravel()
    if k < 0:
        return bool(np.array_equal(v, np.clip(w << -k, -lim, lim)))
    lo = w >> k
    exact = (w & ((1 << k) - 1)) == 0
    ok = (v == np.clip(lo, -lim, lim)) | (~exact & (v == np.clip(lo + 1, -lim, lim)))
    return bool(ok.all())


def last_log(path):
    lines = [l for l in open(path).read().splitlines() if l.strip()]
    return json.loads(lines[-1])


# ------------------------------------------------------------ the runs

TAB_NIT = """# a small dense model for CSV data (column shifts)
model tab {
    input  x[1, 1, 6]
    output classes(3)

    flatten
    dense  h(16)
    relu
    dense  out(3)
}

train {
    batch     16
    epochs    2
    rounding  nearest
    update    bits(3)
    seed      1
}
"""


def setup():
    if os.path.isdir(work):
        shutil.rmtree(work)
    os.makedirs(os.path.join(work, "data"))
    os.makedirs(os.path.join(work, "csv"))
    if run([mkdata, "idx", os.path.join(work, "data"), "600", "200", "1", "28", "28", "10"]).returncode:
        die("mkdata idx")
    if run([mkdata, "csv", os.path.join(work, "csv"), "300", "60", "6", "3"]).returncode:
        die("mkdata csv")
    lenet = open(os.path.join(src, "examples", "lenet5.nit")).read()
    wide = lenet.replace("weights   int8 ", "weights   int16")
    if wide == lenet:
        die("lenet5.nit: no 'weights   int8' line to widen")
    sources = {
        "lenet5": os.path.join(src, "examples", "lenet5.nit"),
        "lenet5_wide": os.path.join(work, "lenet5_wide.nit"),
        "lenet5_ghaffari": os.path.join(src, "examples", "lenet5_ghaffari.nit"),
        "resnet_bn": os.path.join(src, "examples", "resnet_bn.nit"),
        "resnet_bn32": os.path.join(work, "resnet_bn32.nit"),
        "resnet_l1": os.path.join(src, "examples", "resnet_l1.nit"),
        "lenet5_unified": os.path.join(work, "lenet5_unified.nit"),
        "tab": os.path.join(work, "tab.nit"),
    }
    open(sources["lenet5_wide"], "w").write(wide)
    bn = open(sources["resnet_bn"]).read()
    bn32 = bn.replace("master    int16", "master    int32")
    if bn32 == bn:
        die("resnet_bn.nit: no 'master    int16' line to widen")
    open(sources["resnet_bn32"], "w").write(bn32)
    un = open(os.path.join(src, "examples", "lenet5_unified.nit")).read()
    un2 = un.replace("cosine(every=100,", "cosine(every=2,")  # 16 steps: the clips are searched and held
    if un2 == un:
        die("lenet5_unified.nit: no 'cosine(every=100,' to shorten")
    open(sources["lenet5_unified"], "w").write(un2)
    open(sources["tab"], "w").write(TAB_NIT)
    runs = {}
    for m, nit in sources.items():
        exe = os.path.join(work, m)
        r = run([NITC, nit, "--batch", "32", "-o", exe])
        if r.returncode:
            die("nitc %s: %s" % (nit, r.stderr))
        data = os.path.join(work, "csv" if m == "tab" else "data")
        ck, init, log = (os.path.join(work, m + x) for x in (".ckpt", ".init.ckpt", ".jsonl"))
        r = run([exe, "train", "--data", data, "--epochs", "2", "--limit", "256", "--test-limit", "64",
                 "--seed", str(SEED), "--threads", "1", "--quiet", "--save", ck, "--save-init", init, "--log", log])
        if r.returncode:
            die("train %s: %s" % (m, r.stderr))
        runs[m] = dict(exe=exe, data=data, ckpt=ck, init=init, log=log, info=info_facts(exe))
    return runs


# ------------------------------------------------------------ the checks

def check_header(m, u, ck):
    f = u["info"]
    masters = f["master_bits"] > 0
    check("%s: format %d, ABI, name, fingerprint as info says" % (m, ck.version),
          ck.version == (3 if masters else 2) and ck.abi == f["abi"] and ck.model == f["name"]
          and ck.fingerprint == f["fingerprint"], (ck.version, ck.abi, ck.model, hex(ck.fingerprint)))
    lg = last_log(u["log"])
    check("%s: epoch, step and seed as the log and the command line say" % m,
          ck.epoch == 2 and ck.next_epoch == 3 and ck.step == lg["step"] and ck.seed == SEED
          and ck.shuffle_seed == SEED, (ck.epoch, ck.next_epoch, ck.step, lg["step"], ck.seed))
    rc = ck.recipe
    check("%s: recipe %s, batch, epochs, limit" % (m, rc["kind"]),
          rc["kind"] == f["recipe"] and rc["batch"] == f["batch"] and rc["epochs"] == 2
          and rc["limit"] == 256 and ck.train_used == 256, rc)
    d = ck.data
    csv = m == "tab"
    check("%s: data recorded (format, quantization, directory, samples)" % m,
          d["train_format"] == ("CSV" if csv else "idx") and d["quantization"] == ("columns" if csv else "pixels")
          and d["input_exp"] == -7 and d["directory"] == os.path.realpath(u["data"])
          and d["train_samples"] == (300 if csv else 600) and d["test_samples"] == (60 if csv else 200), d)
    if csv:
        s = ck.column_shifts
        check("%s: 6 column shifts in -40..62" % m,
              s is not None and s.dtype == np.int8 and s.shape == (6,) and s.min() >= -40 and s.max() <= 62, s)
    if masters:
        lr = ck.recipe["lr"]
        want = ({"kind": "cosine", "base": "0.1", "period": 10, "min": "0"} if m != "lenet5_ghaffari" else
                {"kind": "piecewise", "entries": [{"lr": "0.1", "from_epoch": 1}, {"lr": "0.01", "from_epoch": 8}]})
        check("%s: masters settings as the .nit file says" % m,
              lr == want and rc["momentum"] == "0.9" and rc["weight_decay"] == "0.0005"
              and rc["master_bits"] == f["master_bits"],
              rc)


def check_tensors(m, u, ck):
    f = u["info"]
    masters = f["master_bits"] > 0
    names = [(t.name, t.shape, t.role) for t in ck.specs]
    want = [(t["name"], t["shape"], t["role"]) for t in f["tensors"]]
    check("%s: %d tensors, names, shapes and roles as info says" % (m, len(want)), names == want, (names, want))
    check("%s: the slab size as info says" % m, ck.param_bytes == f["param_bytes"], ck.param_bytes)
    ok, bad = True, []
    for t in f["tensors"]:
        n = t["name"]
        if not masters:
            wide = f["weight_bits"] > 8
            a = ck.tensors[n + ".weight"]
            good = (a.dtype == (np.int16 if wide else np.int8) and a.shape == t["shape"]
                    and ck.exponents[n + ".weight"] == t["exp"] - (f["weight_bits"] - 8))
        else:
            good = all(ck.tensors[n + x].shape == t["shape"] for x in (".view", ".master", ".momentum"))
            wd = np.int16 if f["master_bits"] == 16 else np.int32
            good &= ck.tensors[n + ".view"].dtype == np.int8 and ck.tensors[n + ".master"].dtype == wd
            good &= ck.tensors[n + ".momentum"].dtype == wd
            if t["role"] == "gamma" and t["kind"] == "batchnorm":
                good &= ck.tensors[t["layer"] + ".running"].shape == (t["shape"][0], 4)
        if not good:
            ok = False
            bad.append(n)
    check("%s: dtypes, shapes and exponents of every array" % m, ok, bad)
    if masters:
        lg = last_log(u["log"])
        mexp = [ck.exponents[t.name + ".master"] for t in ck.specs]
        check("%s: master exponents are the log's master_exp" % m, mexp == lg["master_exp"], (mexp, lg["master_exp"]))
        bad = [t.name for t in ck.specs
               if not rounds_to(ck.tensors[t.name + ".view"], ck.tensors[t.name + ".master"],
                                ck.exponents[t.name + ".view"] - ck.exponents[t.name + ".master"])]
        check("%s: every view rounds its master (floor or ceiling of M / 2^k)" % m, not bad, bad)


def check_clip(m, u, ck):
    """Recipe unified: the clip sites' state against the runtime's `inspect`."""
    out = run([u["exe"], "inspect", u["ckpt"]]).stdout
    hm = re.search(r"^clip state: (\d+) DSGC sites", out, re.M)
    im = re.search(r"^clip state: (\d+) DSGC sites, int32 \(\d+, 4\)", u["info"]["text"], re.M)
    n = int(hm.group(1)) if hm else -1
    a = ck.tensors.get(nitckpt.CLIP_KEY)
    check("%s: one clip state per DSGC site (%d), as inspect and info say" % (m, n),
          n > 0 and im is not None and int(im.group(1)) == n and a is not None and a.dtype == np.int32
          and a.shape == (n, 4), (n, None if a is None else a.shape))
    if a is None or n <= 0:
        return
    want = {}
    for line in out.splitlines():
        r = re.match(r"^\s+site (\d+)\s+level\s+(-?\d+) at exponent\s+(-?\d+)\s+d_c (\S+)\s+phi (\S+)", line)
        if r:
            want[int(r.group(1))] = (int(r.group(2)), int(r.group(3)), float(r.group(4)), float(r.group(5)))
        elif re.match(r"^\s+site (\d+)\s+no level held", line):
            want[int(line.split()[1])] = None
    sites = ck.clip_sites()
    bad = []
    for c in sites:
        w = want.get(c["site"], "missing")
        if w is None:
            good = c["level"] is None and c["exp"] == 0
        else:
            good = w != "missing" and (c["level"], c["exp"]) == w[:2] \
                and abs(c["d_c_q30"] / 2**30 - w[2]) <= 1e-6 and abs(c["phi_q30"] / 2**30 - w[3]) <= 1e-6
        if not good:
            bad.append((c, w))
    held = sum(1 for c in sites if c["level"] is not None)
    check("%s: every site's level, exponent, d_c and phi as inspect prints them (%d of %d held)" % (m, held, n),
          not bad and len(want) == n and held > 0, bad or want)
    text = reader(u["ckpt"], "--model", u["exe"]).stdout
    check("%s: the summary lists the sites" % m,
          all(re.search(r"^\s+site %d\s" % k, text, re.M) for k in range(n)), text[-800:])


def check_export(m, u, ck):
    out = os.path.join(work, m + ".export")
    r = run([u["exe"], "export", "--load", u["ckpt"], "-o", out, "--verify", "4"])
    if not check("%s: export --load" % m, r.returncode == 0, r.stderr.strip()):
        return
    cname = u["info"]["name"]
    ex = parse_export(os.path.join(out, cname + ".c"), cname)
    f = u["info"]
    weights = sorted(t.index for t in ck.specs if t.role == "weight")
    check("%s: export wrote one int8 array per weight tensor" % m, sorted(ex) == weights, sorted(ex))
    gammas = [t for t in ck.specs if t.role == "gamma"]
    if gammas:
        tables = parse_norm_tables(os.path.join(out, cname + ".c"), cname)
        bad = []
        for t in gammas:
            v = tables.get(t.layer)
            # (C + 1) rows of two S31 values, 2^30 <= |m| < 2^31 or m = e = 0
            if v is None or len(v) != 4 * (t.shape[0] + 1):
                bad.append(t.layer)
                continue
            mag, ex_ = np.abs(v[0::2]), v[1::2]
            if not np.all(((mag >= 1 << 30) & (mag < 1 << 31)) | ((mag == 0) & (ex_ == 0))):
                bad.append(t.layer)
        check("%s: one table of S31 values per norm layer" % m, not bad and len(tables) == len(gammas), bad)
    bad = []
    for p, (name, shape, exp, vals) in ex.items():
        t = ck.specs[p]
        good = name == t.layer and shape[:len(t.shape)] == t.shape and all(d == 1 for d in shape[len(t.shape):])
        if f["master_bits"]:
            v = ck.tensors[t.name + ".view"]
            good &= exp == ck.exponents[t.name + ".view"] and np.array_equal(vals, v.ravel().astype(np.int64))
        elif f["weight_bits"] > 8:
            k = f["weight_bits"] - 8
            w = ck.tensors[t.name + ".weight"]
            good &= exp == ck.exponents[t.name + ".weight"] + k and rounds_to(vals, w, k)
        else:
            w = ck.tensors[t.name + ".weight"]
            good &= exp == ck.exponents[t.name + ".weight"] and np.array_equal(vals, w.ravel().astype(np.int64))
        if not good:
            bad.append(name)
    what = ("equal the views" if f["master_bits"] else
            "are the pseudo-rounded views of the int16 weights" if f["weight_bits"] > 8 else "equal the weights")
    check("%s: export's int8 arrays and exponents %s" % (m, what), not bad, bad)


def check_init(m, u):
    f = u["info"]
    ck = nitckpt.load(u["init"], u["exe"])
    check("%s: --save-init is epoch 0, step 0" % m, ck.epoch == 0 and ck.step == 0, (ck.epoch, ck.step))
    A = f["master_bits"]
    bad = []
    for p, t in enumerate(f["tensors"]):
        n = t["name"]
        if not A:
            k = f["weight_bits"] - 8
            w = init_values(SEED, p, int(np.prod(t["shape"])), t["bound"]) << k
            good = np.array_equal(ck.tensors[n + ".weight"].ravel(), w) and ck.exponents[n + ".weight"] == t["exp"] - k
        else:
            master = ck.tensors[n + ".master"].ravel().astype(np.int64)
            me = ck.exponents[n + ".master"]
            if t["role"] == "weight":
                good = np.array_equal(master, init_values(SEED, p, master.size, t["bound"]) << (A - 16))
                good &= me == t["exp"]
            elif t["role"] == "gamma":
                good = bool((master == 1 << (A - 2)).all()) and me == 2 - A
            else:
                good = bool((master == 0).all())
            good &= bool((ck.tensors[n + ".momentum"] == 0).all())
            if t["role"] == "gamma" and t["kind"] == "batchnorm":
                rs = ck.tensors[t["layer"] + ".running"]
                good &= bool((rs == np.array([0, 0, 1 << 30, -30], dtype=np.int32)).all())
                mean, var = ck.running_stats(t["layer"])
                good &= bool((mean == 0).all() and (var == 1).all())
        if not good:
            bad.append(n)
    check("%s: the initial state follows the init rule (seed %d)" % (m, SEED), not bad, bad)


def check_conversions(m, u, ck):
    fw = ck.float_weights()
    bad = []
    for t in ck.specs:
        key = t.name + (".master" if ck.masters else ".weight")
        a, e = ck.tensors[key], ck.exponents[key]
        want = np.array([math.ldexp(int(x), e) for x in a.ravel()]).reshape(a.shape)
        if fw[t.name].dtype != np.float64 or not np.array_equal(fw[t.name], want):
            bad.append(t.name)
        if not np.array_equal(nitckpt.to_float(a, e), want):
            bad.append(t.name + " (to_float)")
    if ck.masters:
        fv = ck.float_weights("view")
        for t in ck.specs:
            a, e = ck.tensors[t.name + ".view"], ck.exponents[t.name + ".view"]
            if not np.array_equal(fv[t.name], a.astype(np.float64) * 2.0**e):
                bad.append(t.name + " (view)")
        for k, a in ck.tensors.items():
            if k.endswith(".running"):
                mean, dev = ck.running_stats(k[:-len(".running")])
                want_m = [math.ldexp(int(x), int(y)) for x, y in a[:, :2]]
                want_d = [math.ldexp(int(x), int(y)) for x, y in a[:, 2:]]
                if list(mean) != want_m or list(dev) != want_d or not (dev > 0).all():
                    bad.append(k)
    check("%s: float conversions are m * 2^exp exactly" % m, not bad, bad)


def check_cli(m, u, ck):
    r = reader(u["ckpt"], "--model", u["exe"])
    check("%s: summary exits 0" % m, r.returncode == 0 and not r.stderr, r.stderr)
    text = r.stdout
    keys = list(ck.tensors)
    check("%s: summary names the model, fingerprint and every array" % m,
          "model %s" % ck.model in text and "0x%016x" % ck.fingerprint in text
          and all(re.search(r"^\s+%s\s" % re.escape(k), text, re.M) for k in keys), text[:2000])
    r = reader(u["ckpt"], "--model", u["exe"], "--json")
    try:
        js = json.loads(r.stdout)
    except ValueError:
        js = None
    check("%s: --json is the module's summary" % m,
          r.returncode == 0 and js == json.loads(json.dumps(ck.summary())), r.stderr)
    npz = os.path.join(work, m + ".npz")
    r = reader(u["ckpt"], "--model", u["exe"], "--npz", npz, "--json")
    ok = r.returncode == 0 and os.path.exists(npz)
    if ok:
        z = np.load(npz)
        for k, a in ck.tensors.items():
            ok &= k in z.files and z[k].dtype == a.dtype and np.array_equal(z[k], a)
            if k in ck.exponents:
                ok &= z[k + ".exp"].dtype == np.int32 and int(z[k + ".exp"]) == ck.exponents[k]
        if ck.masters:
            ok &= np.array_equal(z["exponents"], ck.exponents_table)
        if ck.column_shifts is not None:
            ok &= np.array_equal(z["column_shifts"], ck.column_shifts)
        ok &= json.loads(str(z["summary"])) == js
    check("%s: --npz holds every array, its exponent and the summary" % m, ok, r.stderr)
    # a saved `info` instead of the executable
    saved = os.path.join(work, m + ".info")
    open(saved, "w").write(u["info"]["text"])
    ck2 = nitckpt.load(u["ckpt"], saved)
    check("%s: --model takes a saved `info` output too" % m,
          all(np.array_equal(ck2.tensors[k], a) for k, a in ck.tensors.items()))
    # without the model: the header, and a clear word about --model
    r = reader(u["ckpt"])
    check("%s: without --model the header, and what --model is for" % m,
          r.returncode == 0 and "--model EXE" in r.stdout and "0x%016x" % ck.fingerprint in r.stdout, r.stdout)
    r = reader(u["ckpt"], "--json")
    js0 = json.loads(r.stdout) if r.returncode == 0 else {}
    ok = js0.get("tensors", 1) is None and js0.get("step") == ck.step
    if ck.masters:
        ok &= js0.get("tensor_records") == json.loads(json.dumps(ck.records)) or \
            [x["master_exp"] for x in js0.get("tensor_records", [])] == [ck.exponents[t.name + ".master"]
                                                                         for t in ck.specs]
    check("%s: --json without --model (format 3: the exponents from the records)" % m, ok, js0)
    r = reader(u["ckpt"], "--npz", npz)
    check("%s: --npz without --model exits 1 asking for --model" % m,
          r.returncode == 1 and "--npz needs --model" in r.stderr and "Traceback" not in r.stderr, r.stderr)
    try:
        nitckpt.load(u["ckpt"]).tensors
        ok = False
    except nitckpt.CheckpointError as e:
        ok = "model" in str(e)
    check("%s: the module's tensors without a model ask for it" % m, ok)


def refused(name, path, want, exe=None, model=None, data=None, runtime=True):
    """The reader exits 1 with one line naming the file and `want`; the
    runtime refuses the file too."""
    r = reader_call(path, "--model", model) if model else reader_call(path)
    lines = r.stderr.strip().splitlines()
    ok = (r.returncode == 1 and len(lines) == 1 and lines[0].startswith("nitckpt: error: %s: " % path)
          and want in lines[0] and "Traceback" not in r.stderr and "internal error" not in r.stderr)
    detail = "exit %d: %s" % (r.returncode, r.stderr.strip())
    if ok and runtime and exe:
        e = run([exe, "eval", "--load", path, "--data", data, "--batch", "1", "--test-limit", "4"])
        if e.returncode != 1:
            ok, detail = False, "the runtime accepts it: " + e.stdout + e.stderr
    return check(name, ok, detail)


def rewrite(path, b, fix=True):
    """b with its size and CRC made consistent (fix), written to path."""
    b = bytearray(b)
    if fix:
        b[16:24] = len(b).to_bytes(8, "little")
        b[-4:] = (zlib.crc32(bytes(b[:-4])) & 0xFFFFFFFF).to_bytes(4, "little")
    open(path, "wb").write(bytes(b))
    return path


def check_damage(m, u, ck):
    good = open(u["ckpt"], "rb").read()
    n = len(good)
    exe, data = u["exe"], u["data"]
    bad = os.path.join(work, m + ".bad.ckpt")
    hdr = 568 + 32 * ck.nparams if ck.masters else 336
    for off, want in ((0, "not a nitc checkpoint"), (8, "format version"), (16, "the header says"),
                      (100, "checksum mismatch"), (hdr + 5, "checksum mismatch"), (n - 10, "checksum mismatch"),
                      (n - 2, "checksum mismatch")):
        b = bytearray(good)
        b[off] ^= 0x40
        refused("%s: byte %d flipped: %s" % (m, off, want), rewrite(bad, b, False), want, exe, exe, data)
    for size, want in ((n - 1, "truncated or corrupt"), (n // 2, "truncated"), (300, "truncated"),
                       (11, "truncated"), (5, "not a nitc checkpoint"), (0, "not a nitc checkpoint")):
        refused("%s: truncated to %d bytes" % (m, size), rewrite(bad, good[:size], False), want, exe, exe, data)
    refused("%s: a byte appended" % m, rewrite(bad, good + b"\0", False), "the header says", exe, exe, data)
    # fields out of range under a valid checksum: the message names the field
    # and its offset, and the runtime refuses the same file
    def put(b, off, v, size=4):
        b[off:off + size] = (v & ((1 << (8 * size)) - 1)).to_bytes(size, "little")

    cases = [(136, 0, "the batch (offset 136) is 0, expected 1..1048576"),
             (228, -5, "the holdout (offset 228) is -5, expected 0..2147483647"),
             (96, 99, "the epochs completed (offset 96) is 99, expected 0..2"),
             (244, 1, "a reserved field (offset 244) is 1, expected 0"),
             (264, -6, "the input exponent (offset 264) is -6, expected -7"),
             (144, 3, "the activation rounding mode (offset 144) is 3, expected 0..2")]
    for off, v, want in cases:
        b = bytearray(good)
        put(b, off, v)
        refused("%s: %s" % (m, want), rewrite(bad, b), want, exe, exe, data)
    b = bytearray(good)
    put(b, 240, ck.nparams + 1)
    refused("%s: another tensor count" % m, rewrite(bad, b), "parameter layout", exe, exe, data)
    t0 = ck.specs[0]
    if not ck.masters:
        wide = u["info"]["weight_bits"] > 8
        b = bytearray(good)
        put(b, hdr + t0.offset + (6 if wide else 3), -32768 if wide else -128, 2 if wide else 1)
        want = "weight 3 of tensor %s is %d" % (t0.name, -32768 if wide else -128)
        refused("%s: %s" % (m, want), rewrite(bad, b), want, exe, exe, data)
        pad = t0.offset + t0.count * (2 if wide else 1)
        if pad % 64:
            b = bytearray(good)
            b[hdr + pad] = 1
            refused("%s: padding byte set" % m, rewrite(bad, b), "padding byte %d of the parameters is 1" % pad,
                    exe, exe, data)
        # format 1: the first 256 bytes, the parameters, the CRC
        v1 = bytearray(good[:256]) + good[336:336 + ck.param_bytes] + b"\0\0\0\0"
        put(v1, 8, 1)
        p1 = rewrite(os.path.join(work, m + ".v1.ckpt"), v1)
        c1 = None
        try:
            c1 = nitckpt.load(p1, exe)
        except nitckpt.CheckpointError as e:
            print(e)
        check("%s: a format-1 file reads, with the same tensors and no data" % m,
              c1 is not None and c1.version == 1 and c1.data is None
              and all(np.array_equal(c1.tensors[k], a) for k, a in ck.tensors.items()))
        e = run([exe, "eval", "--load", p1, "--data", data, "--batch", "1", "--test-limit", "4"])
        if m == "tab":  # format 1 does not record the column shifts CSV needs
            check("%s: the runtime refuses that format-1 file on CSV data, as documented" % m,
                  e.returncode == 1 and "a checkpoint of format 1" in e.stderr, e.stderr)
        else:
            check("%s: the runtime reads that format-1 file too" % m, e.returncode == 0, e.stderr)
    else:
        for off, v, want in ((528, 8, "the settings hash at offset 552"),
                             (568, 1, "the role of tensor %s (offset 568) is 1, expected 0" % t0.name),
                             (568 + 8, 99, "the master exponent of tensor %s (offset 576) is 99" % t0.name),
                             (564, 1, "a reserved field (offset 564) is 1, expected 0")):
            b = bytearray(good)
            put(b, off, v)
            refused("%s: %s" % (m, want), rewrite(bad, b), want, exe, exe, data)
        a = u["info"]["master_bits"]
        b = bytearray(good)
        put(b, hdr + t0.master_off + a // 8 * 7, -2**(a - 1), a // 8)
        want = "master element 7 of tensor %s is %d" % (t0.name, -2**(a - 1))
        refused("%s: %s" % (m, want), rewrite(bad, b), want, exe, exe, data)
        b = bytearray(good)
        put(b, hdr + ck.model_info.pstate_off + 16 * 2 + 12, 1)
        refused("%s: the fourth exponent set" % m, rewrite(bad, b), "expected 0 (file offset %d)"
                % (hdr + ck.model_info.pstate_off + 16 * 2 + 12), exe, exe, data)
        if ck.model_info.clip_off >= 0:
            b = bytearray(good)
            put(b, hdr + ck.model_info.clip_off + 16 * 1 + 8, -2**31)
            refused("%s: a clip state out of range" % m, rewrite(bad, b),
                    "clip state 6 of the clip sites is -2147483648, expected -2147483647..2147483647 (file offset %d)"
                    % (hdr + ck.model_info.clip_off + 24), exe, exe, data)
        stats = [t for t in ck.specs if t.stats_off >= 0]
        if stats:
            b = bytearray(good)
            put(b, hdr + stats[0].stats_off + 16 * 3 + 8, 5)
            refused("%s: a running statistic not normalized" % m, rewrite(bad, b),
                    "running statistic 7 of tensor %s" % stats[0].name, exe, exe, data)


def check_wrong(runs):
    l5, g = runs["lenet5"], runs["lenet5_ghaffari"]
    refused("lenet5's checkpoint with lenet5_ghaffari's model", l5["ckpt"],
            "format version 2 (offset 8) is for recipe niti; model lenet5_ghaffari uses recipe ghaffari",
            model=g["exe"])
    refused("lenet5's checkpoint with the wide model", l5["ckpt"], "fingerprint", model=runs["lenet5_wide"]["exe"])
    refused("resnet_bn's checkpoint with lenet5_ghaffari's model", runs["resnet_bn"]["ckpt"], "fingerprint",
            model=g["exe"])
    for what, model, want in (("a missing model", os.path.join(work, "nothing"), "cannot read the model"),
                              ("a .nit file as the model", os.path.join(work, "tab.nit"), "cannot run"),
                              ("a model that is not an info output", l5["ckpt"] + ".txt", "not the output")):
        if model.endswith(".txt"):
            open(model, "w").write("model x  junk\n")
        r = reader(l5["ckpt"], "--model", model)
        check("--model with %s exits 1: %s" % (what, want),
              r.returncode == 1 and want in r.stderr and "Traceback" not in r.stderr, r.stderr)
    for what, path, want in (("a missing file", os.path.join(work, "missing.ckpt"), "cannot read"),
                             ("a directory", work, "it is a directory"),
                             ("an executable", l5["exe"], "not a nitc checkpoint"),
                             ("a .nit file", os.path.join(work, "tab.nit"), "not a nitc checkpoint")):
        refused("%s refused: %s" % (what, want), path, want)


def fuzz(m, u, count, rng):
    """Single bytes changed (the CRC made good): the reader never fails
    without its one-line message, and refuses whatever the runtime refuses."""
    good = open(u["ckpt"], "rb").read()
    path = os.path.join(work, m + ".fuzz.ckpt")
    problems = []
    for i in range(count):
        b = bytearray(good)
        off = rng.randrange(0, len(b) - 4) if rng.random() < 0.7 else rng.randrange(0, min(len(b) - 4, 700))
        b[off] = rng.randrange(256)
        rewrite(path, b)
        r = reader_call(path, "--model", u["exe"])
        if "Traceback" in r.stderr or "internal error" in r.stderr or r.returncode not in (0, 1) or \
                (r.returncode == 1 and not r.stderr.startswith("nitckpt: error: %s: " % path)):
            problems.append("offset %d: exit %d %s" % (off, r.returncode, r.stderr.strip()))
            continue
        e = run([u["exe"], "eval", "--load", path, "--data", u["data"], "--batch", "1", "--test-limit", "4"])
        if e.returncode == 1 and ("invalid checkpoint" in e.stderr or "corrupt" in e.stderr) and r.returncode == 0:
            problems.append("offset %d: the runtime refuses (%s), the reader accepts" % (off, e.stderr.strip()))
        if e.returncode == 0 and r.returncode == 1:
            problems.append("offset %d: the runtime accepts, the reader refuses (%s)" % (off, r.stderr.strip()))
    check("%s: %d changed bytes: no traceback, the runtime's verdict" % (m, count), not problems, problems[:5])


def main():
    runs = setup()
    for m, u in runs.items():
        try:
            ck = nitckpt.load(u["ckpt"], u["exe"])
        except nitckpt.CheckpointError as e:
            check("%s: the reader loads the runtime's checkpoint" % m, False, e)
            continue
        check_header(m, u, ck)
        check_tensors(m, u, ck)
        check_export(m, u, ck)
        check_init(m, u)
        check_conversions(m, u, ck)
        if u["info"]["recipe"] == "unified":
            check_clip(m, u, ck)
        check_cli(m, u, ck)
        check_damage(m, u, ck)
    check_wrong(runs)
    rng = random.Random(11)
    for m in ("tab", "resnet_bn", "lenet5_unified"):
        fuzz(m, runs[m], 40, rng)
    print("%d passed, %d failed" % (total - fails, fails))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
