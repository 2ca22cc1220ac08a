#!/usr/bin/env python3
"""fp32 PyTorch mirror of a nitc model: the baseline of the accuracy runs.

Reads the model body of a .nit file and builds the same network in PyTorch
*without biases* (nitc has none): sequential layer statements (conv, relu,
maxpool, avgpool, flatten, dense, dropout, batchnorm, layernorm, l1norm,
l1layernorm) and graphs written with `let NAME = expr`, nested calls whose
first argument is the input
(`relu(batchnorm(conv c0(x, 16, kernel=3, pad=1)))`, `maxpool(stem, 2)`) and
residual sums `a + b`; a statement after a `let` consumes the value it bound.
Parameters are created in nitc's node order (the nodes of an expression in
evaluation order: operands before the layer), a norm layer's gamma then beta,
so they line up with nitc's parameter tensors. `batchnorm(eps=, momentum=)`
is nn.BatchNorm2d (running statistics PyTorch's way, as nitc keeps them);
`layernorm(eps=)` normalizes each sample over all of (C, H, W) with a
per-channel gamma and beta, i.e. nn.GroupNorm(1, C) (on a vector too). Both
default to eps 0.00001, batchnorm to momentum 0.1.

The L1 layers (the spec's recipes.md section 7; docs/recipes.md, "Normalization
layers") put k times the mean absolute deviation in place of the standard
deviation: y = gamma (x - m) / (k a + eps) + beta with m = mean(x) and
a = mean|x - m| (a plain mean: no unbiasing), computed in fp32 and
differentiated by autograd through m and a (the spec's backward, in float).
`l1norm(eps=, momentum=, k=)` (class L1Norm) takes m and a per channel over
(N, H, W) in training (over N for a vector) and keeps running statistics,
PyTorch's way r = (1 - momentum) r + momentum * new, of the mean (from 0) and
of the deviation a (from 1/k, so that k * dev = 1); evaluation uses them:
y = gamma (x - mean_r) / (k dev_r + eps) + beta. `l1layernorm(eps=, k=)` (class
L1LayerNorm) takes m and a per sample over (C, H, W) (all features of a
vector), with per-channel gamma and beta, the same in training and evaluation.
Defaults: eps 0.00001, momentum 0.1, k sqrt(pi/2).

Two ways to train, chosen by the model's train block (--schedule):

  fixed   the NITI paper's fp32 baseline, for models of recipe niti (the old
          behaviour, unchanged): SGD lr 0.01, momentum 0.9, weight decay 5e-4,
          batch 64, 10 epochs, inputs standardized by the training set's mean
          and standard deviation.
  file    for recipes with a learning rate (ghaffari, shiftquant): the train block's own
          settings: `lr X`, `lr X then Y at E ...` (piecewise by 1-based epoch),
          `lr cosine(BASE, period=P, min=M)` evaluated per step as nitc does
          (S steps per epoch, T = P*S, global step t from 0: p = t mod 2T,
          folded to 2T - p past T, eta = M + (BASE - M)(1 + cos(pi p / T))/2),
          `warmup`, `momentum` (0.9), `decay` (0.0005, coupled L2 as torch SGD's
          weight_decay, on every tensor), `batch`, `epochs`, `seed`. The rate is
          set before every step.

Recipe `shiftquant` (examples/resnet_l1.nit) is mirrored like `ghaffari`: the
fp32 network with the same layers (its l1norm/l1layernorm as above) and the
train block's schedule. Its `bits` (the 4-bit errors, or activations and
weights), `groups` (the channel groups of the shifted error quantizer), `master`
and rounding settings are integer-side settings with no meaning in fp32 and are
ignored, as are ghaffari's.

--lr, --momentum, --wd, --epochs, --batch and --seed override either;
--lr-scale multiplies the rates of the schedule.

--init CKPT starts from nitc's initial (or any) weights: a format-3 checkpoint
(recipes with masters, e.g. from `./NET init --save CKPT` or
`./NET train --save-init CKPT`); each tensor's
master becomes value = master * 2^master_exp, and the running statistics of a
batchnorm (mean, unbiased variance) or an l1norm (mean, mean absolute
deviation) are loaded too. The tensors are matched to the PyTorch parameters
in order, with their kinds and sizes checked. Momenta are not loaded.

Inputs (--inputs): nitc feeds pixel p as the int8 p>>1 at exponent -7, i.e.
(p>>1)/128 ~ p/256. With --init the default is `unit`, x = p/255, so the same
initial weights see (nearly) the same input scale; `nitc` feeds (p>>1)/128
exactly; without --init the default stays `standardize` (the old baseline's).

Data order is not nitc's: the training set is shuffled every epoch with a torch
generator seeded by --seed (which also seeds the initialization without --init).

Writes one JSON object per epoch in the same shape as the nitc executable's
--log (epoch, epochs, step, train_loss, train_acc, test_acc, test_loss,
samples_per_sec, seconds, the counts, and lr: the rate at the epoch's first
step), so both can be tabulated and plotted by the same scripts. Prints the
BLAS that torch uses to stderr once. --threads (default 2) sets torch's threads
and, unless already set, OPENBLAS_NUM_THREADS; OMP_WAIT_POLICY defaults to PASSIVE.

--eval-only evaluates the network as it starts (normally with --init CKPT, e.g.
a trained checkpoint from `NET train --save CKPT`) on the test set without any
training step, prints the test accuracy and loss, and writes one record with
epoch 0 to --log when given (the training fields are 0).

Deliberately independent of the nitc code: it reads .nit, idx files and
checkpoints itself.
"""
import argparse, json, math, os, re, struct, sys, time, zlib


def _early_threads():
    """--threads before torch is imported: OpenBLAS sizes its pool at load."""
    for i, a in enumerate(sys.argv):
        if a == '--threads' and i + 1 < len(sys.argv):
            return sys.argv[i + 1]
        if a.startswith('--threads='):
            return a.split('=', 1)[1]
    return '2'


os.environ.setdefault('OPENBLAS_NUM_THREADS', _early_threads())
# GNU OpenMP's default busy-waiting collapses throughput as soon as another process
# wants a core (mlp_ln, 2 threads, a busy 2-core machine: 450 instead of 16000
# samples/s); passive waiting costs little when the machine is idle
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def die(msg):
    sys.exit(f'torch_mirror: {msg}')


# ------------------------------------------------------------------ data

def read_idx(path):
    with open(path, 'rb') as f:
        data = f.read()
    magic, = struct.unpack('>I', data[:4])
    if magic >> 8 != 0x08:
        sys.exit(f'{path}: not an unsigned-byte idx file (magic 0x{magic:08x})')
    ndim = magic & 0xff
    dims = struct.unpack('>' + 'I' * ndim, data[4:4 + 4 * ndim])
    t = torch.frombuffer(bytearray(data[4 + 4 * ndim:]), dtype=torch.uint8)
    return t.reshape(dims)


def pixels(t, mode):
    if mode == 'nitc':
        return (t >> 1).float().div_(128.0)
    return t.float().div_(255.0)


def load(dirname, mode='unit'):
    x = pixels(read_idx(f'{dirname}/train-images-idx3-ubyte'), mode)
    y = read_idx(f'{dirname}/train-labels-idx1-ubyte').long()
    tx = pixels(read_idx(f'{dirname}/t10k-images-idx3-ubyte'), mode)
    ty = read_idx(f'{dirname}/t10k-labels-idx1-ubyte').long()
    if x.dim() == 3:
        x, tx = x.unsqueeze(1), tx.unsqueeze(1)
    return x, y, tx, ty


# ------------------------------------------------------------------ .nit

KINDS = {'conv', 'conv2d', 'relu', 'maxpool', 'avgpool', 'flatten', 'dense', 'dropout',
         'batchnorm', 'layernorm', 'l1norm', 'l1layernorm'}
FIRST_ARG = {'conv': 'channels', 'conv2d': 'channels', 'dense': 'units', 'maxpool': 'kernel',
             'avgpool': 'kernel', 'dropout': 'rate'}
TOKEN = re.compile(r'\s*(?:(\d+\.\d*|\.\d+|\d+)|([A-Za-z_]\w*)|("(?:[^"\\]|\\.)*")|(\S))')


def tokenize(text, where):
    toks, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m:
            break
        pos = m.end()
        num, name, string, punct = m.groups()
        if num is not None:
            toks.append(('num', num))
        elif name is not None:
            toks.append(('name', name))
        elif string is not None:
            toks.append(('str', string[1:-1]))
        else:
            if punct not in '()+-,=[]':
                die(f'{where}: unexpected character {punct!r}')
            toks.append((punct, punct))
    return toks


class Parser:
    """Recursive descent over one statement's tokens (docs/language.md's grammar)."""

    def __init__(self, toks, where):
        self.t, self.i, self.where = toks, 0, where

    def peek(self, k=0):
        return self.t[self.i + k] if self.i + k < len(self.t) else (None, None)

    def take(self, kind=None):
        tok = self.peek()
        if tok[0] is None or (kind and tok[0] != kind):
            die(f'{self.where}: expected {kind or "more"}, found {tok[1]!r}')
        self.i += 1
        return tok

    def done(self):
        if self.i != len(self.t):
            die(f'{self.where}: unexpected {self.peek()[1]!r}')

    def expr(self):
        """('add', [terms]) or a term."""
        terms = [self.term()]
        while self.peek()[0] == '+':
            self.take('+')
            terms.append(self.term())
        return terms[0] if len(terms) == 1 else ('add', terms)

    def term(self):
        kind, val = self.peek()
        if kind == '(':
            self.take('(')
            e = self.expr()
            self.take(')')
            return e
        if kind == 'num':
            self.take()
            return ('num', val)
        if kind == '-':
            self.take()
            return ('num', '-' + self.take('num')[1])
        if kind == 'str':
            self.take()
            return ('num', val)
        if kind == 'name':
            self.take()
            lname = None
            if self.peek()[0] == 'name' and self.peek(1)[0] == '(':
                lname = self.take()[1]
            if self.peek()[0] == '(':
                return ('call', val, lname, self.args())
            return ('ref', val)
        die(f'{self.where}: unexpected {val!r}')

    def args(self):
        self.take('(')
        pos, kw = [], {}
        while self.peek()[0] != ')':
            if self.peek()[0] == 'name' and self.peek(1)[0] == '=':
                k = self.take()[1]
                self.take('=')
                kw[k] = self.expr()
            else:
                pos.append(self.expr())
            if self.peek()[0] == ',':
                self.take(',')
            elif self.peek()[0] != ')':
                die(f'{self.where}: expected , or ) in an argument list, found {self.peek()[1]!r}')
        self.take(')')
        return pos, kw


def _statements(text):
    """Comment-free logical lines (a statement may continue while a parenthesis is open)."""
    out, cur, depth = [], '', 0
    for no, raw in enumerate(text.split('\n'), 1):
        line = raw.split('#', 1)[0].strip()
        if not line:
            continue
        if not cur:
            start = no
        cur = (cur + ' ' + line).strip()
        depth += line.count('(') - line.count(')')
        if depth <= 0:
            out.append((start, cur))
            cur, depth = '', 0
    if cur:
        out.append((start, cur))
    return out


def _block(lines, word):
    """The statements inside `word ... { ... }`."""
    inside, body = False, []
    for no, line in lines:
        if not inside:
            if line.split()[0] == word and line.endswith('{'):
                inside = True
            continue
        if line == '}':
            return body
        body.append((no, line))
    return body if inside else None


def _value(e, where):
    if e[0] != 'num':
        die(f'{where}: a layer argument must be a number, got {e}')
    return e[1]


class Spec:
    """The parsed model: input shape, node list in nitc's order, train block."""

    def __init__(self):
        self.name, self.shape, self.classes = None, None, None
        self.nodes = []     # (kind, name, input node indices, args dict); node 0 is the input
        self.train = {}


def layer_args(kind, pos, kw, where):
    args = {}
    if pos:
        if kind not in FIRST_ARG or len(pos) > 1:
            die(f'{where}: {kind} takes {"no" if kind not in FIRST_ARG else "one"} positional argument')
        args[FIRST_ARG[kind]] = _value(pos[0], where)
    for k, v in kw.items():
        args[k] = _value(v, where)
    return args


def parse_nit(path):
    text = open(path).read()
    lines = _statements(text)
    model = None
    for no, line in lines:
        m = re.match(r'model\s+(\w+)\s*\{$', line)
        if m:
            model = m.group(1)
            break
    body = _block(lines, 'model')
    if model is None or body is None:
        die(f'{path}: no model block')
    s = Spec()
    s.name = model
    names = {}          # name -> node index
    cur = None          # the current value
    counters = {}

    def add_node(kind, lname, ins, args):
        s.nodes.append((kind, lname, ins, args))
        idx = len(s.nodes) - 1
        if lname:
            if lname in names:
                die(f'{path}: name {lname} defined twice')
            names[lname] = idx
        counters[kind] = counters.get(kind, 0) + 1
        return idx

    def lower(e, where):
        if e[0] == 'ref':
            if e[1] not in names:
                die(f'{where}: unknown name {e[1]}')
            return names[e[1]]
        if e[0] == 'add':
            acc = lower(e[1][0], where)
            for t in e[1][1:]:
                rhs = lower(t, where)
                acc = add_node('add', None, [acc, rhs], {})
            return acc
        if e[0] == 'call':
            _, kind, lname, (pos, kw) = e
            if kind not in KINDS:
                die(f'{where}: the fp32 mirror does not know layer {kind}')
            if not pos:
                die(f'{where}: {kind}(...) in an expression needs its input as the first argument')
            src = lower(pos[0], where)
            return add_node(kind, lname, [src], layer_args(kind, pos[1:], kw, where))
        die(f'{where}: cannot use {e} as a value')

    for no, line in body:
        where = f'{path}:{no}'
        m = re.match(r'input\s+(\w+)\s*\[(.*)\]$', line)
        if m:
            dims = [int(v) for v in m.group(2).split(',')]
            s.shape = dims + [1] * (3 - len(dims)) if len(dims) < 3 else dims
            cur = add_node('input', m.group(1), [], {})
            continue
        m = re.match(r'output\s*(\w+)?\s*\(\s*(\d+)\s*\)$', line)
        if m:
            s.classes = int(m.group(2))
            continue
        m = re.match(r'let\s+(\w+)\s*=\s*(.*)$', line)
        if m:
            p = Parser(tokenize(m.group(2), where), where)
            e = p.expr()
            p.done()
            idx = lower(e, where)
            if m.group(1) in names:
                die(f'{where}: name {m.group(1)} defined twice')
            names[m.group(1)] = idx   # the let names the node its expression computed
            cur = idx
            continue
        p = Parser(tokenize(line, where), where)
        kind = p.take('name')[1]
        if kind not in KINDS:
            die(f'{where}: the fp32 mirror does not know layer {kind}: {line}')
        lname = p.take('name')[1] if p.peek()[0] == 'name' else None
        pos, kw = p.args() if p.peek()[0] == '(' else ([], {})
        p.done()
        if cur is None:
            die(f'{where}: a layer before the input')
        cur = add_node(kind, lname, [cur], layer_args(kind, pos, kw, where))
    if s.shape is None:
        die(f'{path}: no input line')
    s.output = cur
    s.train = parse_train(path, lines)
    return s


def _dec(v, where, what):
    try:
        return float(v)
    except ValueError:
        die(f'{where}: {what} must be a number, got {v!r}')


def parse_train(path, lines):
    """The train block's settings the mirror uses; missing ones get nitc's defaults."""
    t = {'recipe': 'niti', 'batch': 64, 'epochs': 1, 'seed': 1, 'momentum': 0.9,
         'decay': None, 'lr': ('piecewise', [(1, 0.01)]), 'warmup': None, 'data': None}
    body = _block(lines, 'train') or []
    for no, line in body:
        where = f'{path}:{no}'
        key, _, rest = line.partition(' ')
        rest = rest.strip()
        if key == 'recipe':
            t['recipe'] = rest
        elif key in ('batch', 'epochs', 'seed'):
            t[key] = int(rest)
        elif key == 'momentum':
            t['momentum'] = _dec(rest, where, 'momentum')
        elif key == 'decay':
            t['decay'] = rest
        elif key == 'data':
            m = re.match(r'(?:idx\s*\(\s*)?"([^"]*)"', rest)
            t['data'] = m.group(1) if m else None
        elif key == 'lr':
            m = re.match(r'cosine\s*\((.*)\)$', rest)
            if m:
                p = Parser(tokenize('(' + m.group(1) + ')', where), where)
                pos, kw = p.args()
                p.done()
                base = _dec(_value(pos[0], where), where, 'the base rate')
                period = int(_value(kw['period'], where)) if 'period' in kw else 0
                mn = _dec(_value(kw['min'], where), where, 'min') if 'min' in kw else 0.0
                t['lr'] = ('cosine', base, period, mn)
            else:
                parts = re.split(r'\s+then\s+', rest)
                pieces = [(1, _dec(parts[0], where, 'the rate'))]
                for ptxt in parts[1:]:
                    m = re.match(r'(\S+)\s+at\s+(\d+)$', ptxt)
                    if not m:
                        die(f'{where}: cannot read the schedule entry {ptxt!r}')
                    pieces.append((int(m.group(2)), _dec(m.group(1), where, 'the rate')))
                t['lr'] = ('piecewise', pieces)
        elif key == 'warmup':
            m = re.match(r'steps\s*\(\s*(\d+)\s*(?:,\s*ratio\s*=\s*([\d.]+))?\s*\)$', rest)
            if m:
                t['warmup'] = (int(m.group(1)), float(m.group(2) or 0.001))
            else:
                t['warmup'] = (int(rest), 0.001)
    if t['lr'][0] == 'cosine' and t['lr'][2] == 0:
        t['lr'] = ('cosine', t['lr'][1], t['epochs'], t['lr'][3])   # period defaults to the file's epochs
    if t['decay'] is None:
        t['decay'] = 0.0 if t['recipe'] == 'niti' else 0.0005
    elif t['decay'] in ('off', 'on'):
        t['decay'] = 0.0   # `on` is NITI's integer decay: no fp32 equivalent here
    else:
        t['decay'] = _dec(t['decay'], path, 'decay')
    return t


# ------------------------------------------------------------------ network

SQRT_PI_2 = math.sqrt(math.pi / 2)


def _affine_shape(x):
    """The shape that broadcasts a per-channel vector over x: (1, C) or (1, C, 1, 1)."""
    return (1, -1) + (1,) * (x.dim() - 2)


class L1Norm(nn.Module):
    """nitc's l1norm in fp32: batch statistics per channel, the deviation k * mean|x - mean|.

    Training: m = mean(x), a = mean|x - m| per channel over (N, H, W) (over N for a
    vector (N, C)), y = gamma (x - m) / (k a + eps) + beta, gradients through m and a
    by autograd; then running_mean and running_dev (the plain mean absolute deviation
    a, not unbiased) move by r = (1 - momentum) r + momentum * new. Evaluation:
    y = gamma (x - running_mean) / (k running_dev + eps) + beta. Initially
    running_mean 0 and running_dev 1/k (k * dev = 1), gamma 1, beta 0.
    """

    def __init__(self, c, eps=0.00001, momentum=0.1, k=SQRT_PI_2):
        super().__init__()
        self.eps, self.momentum, self.k = eps, momentum, k
        self.weight = nn.Parameter(torch.ones(c))    # gamma, then beta: nitc's tensor order
        self.bias = nn.Parameter(torch.zeros(c))
        self.register_buffer('running_mean', torch.zeros(c))
        self.register_buffer('running_dev', torch.full((c,), 1.0 / k))

    def forward(self, x):
        shape = _affine_shape(x)
        if self.training:
            dims = [0] + list(range(2, x.dim()))
            m = x.mean(dims, keepdim=True)
            z = x - m
            a = z.abs().mean(dims, keepdim=True)
            with torch.no_grad():
                mom = self.momentum
                self.running_mean.mul_(1 - mom).add_(m.reshape(-1), alpha=mom)
                self.running_dev.mul_(1 - mom).add_(a.reshape(-1), alpha=mom)
            xhat = z / (self.k * a + self.eps)
        else:
            xhat = ((x - self.running_mean.view(shape)) /
                    (self.k * self.running_dev.view(shape) + self.eps))
        return xhat * self.weight.view(shape) + self.bias.view(shape)

    def extra_repr(self):
        return f'{self.weight.numel()}, eps={self.eps}, momentum={self.momentum}, k={self.k}'


class L1LayerNorm(nn.Module):
    """nitc's l1layernorm in fp32: per sample over (C, H, W) (all features of a vector).

    m = mean(x), a = mean|x - m| per sample, y = gamma_c (x - m) / (k a + eps) + beta_c
    with per-channel gamma and beta; the same in training and evaluation.
    """

    def __init__(self, c, eps=0.00001, k=SQRT_PI_2):
        super().__init__()
        self.eps, self.k = eps, k
        self.weight = nn.Parameter(torch.ones(c))
        self.bias = nn.Parameter(torch.zeros(c))

    def forward(self, x):
        dims = list(range(1, x.dim()))
        m = x.mean(dims, keepdim=True)
        z = x - m
        a = z.abs().mean(dims, keepdim=True)
        shape = _affine_shape(x)
        return z / (self.k * a + self.eps) * self.weight.view(shape) + self.bias.view(shape)

    def extra_repr(self):
        return f'{self.weight.numel()}, eps={self.eps}, k={self.k}'


class Net(nn.Module):
    """The node graph; modules registered in node order, so parameters() is nitc's order."""

    def __init__(self, spec):
        super().__init__()
        self.plan = []   # (kind, module index or -1, inputs)
        self.layers = nn.ModuleList()
        self.roles = []  # per parameter tensor: (role 0 weight/1 gamma/2 beta, node name, kind)
        self.output = spec.output
        shapes = []
        for i, (kind, lname, ins, a) in enumerate(spec.nodes):
            where = f'node {i} ({kind}{" " + lname if lname else ""})'
            if kind == 'input':
                shapes.append(tuple(spec.shape))
                self.plan.append((kind, -1, ins))
                continue
            c, h, w = shapes[ins[0]]
            mod, out = None, (c, h, w)
            vec = self._is_vec(ins[0], spec)
            if kind in ('conv', 'conv2d'):
                if 'kernel' not in a:
                    die(f'{where}: conv needs kernel=')
                o = int(a['channels']); k = int(a['kernel']); s = int(a.get('stride', 1))
                p = int(a.get('pad', 0)); g = int(a.get('groups', 1))
                mod = nn.Conv2d(c, o, k, stride=s, padding=p, groups=g, bias=False)
                out = (o, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)
                self.roles.append((0, lname or f'{kind}', 'conv'))
            elif kind in ('maxpool', 'avgpool'):
                k = int(a.get('kernel', a.get('window', 2)))
                s = int(a.get('stride', k)); p = int(a.get('pad', 0))
                mod = (nn.MaxPool2d if kind == 'maxpool' else nn.AvgPool2d)(k, s, p)
                out = (c, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)
            elif kind == 'relu':
                mod = nn.ReLU()
            elif kind == 'flatten':
                mod = nn.Flatten()
                out = (c * h * w, 1, 1)
            elif kind == 'dense':
                n = int(a['units'])
                mod = nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, n, bias=False))
                out = (n, 1, 1)
                self.roles.append((0, lname or 'dense', 'dense'))
            elif kind == 'dropout':
                mod = nn.Dropout(float(a['rate']))
            elif kind == 'batchnorm':
                eps = float(a.get('eps', 0.00001)); mom = float(a.get('momentum', 0.1))
                mod = (nn.BatchNorm1d if vec else nn.BatchNorm2d)(c, eps=eps, momentum=mom)
                self.roles += [(1, lname or 'batchnorm', 'batchnorm'), (2, lname or 'batchnorm', 'batchnorm')]
            elif kind == 'layernorm':
                eps = float(a.get('eps', 0.00001))
                mod = nn.GroupNorm(1, c, eps=eps)   # over (C, H, W) per sample, per-channel affine
                self.roles += [(1, lname or 'layernorm', 'layernorm'), (2, lname or 'layernorm', 'layernorm')]
            elif kind == 'l1norm':
                eps = float(a.get('eps', 0.00001)); mom = float(a.get('momentum', 0.1))
                k = float(a.get('k', SQRT_PI_2))
                mod = L1Norm(c, eps=eps, momentum=mom, k=k)
                self.roles += [(1, lname or 'l1norm', 'l1norm'), (2, lname or 'l1norm', 'l1norm')]
            elif kind == 'l1layernorm':
                eps = float(a.get('eps', 0.00001)); k = float(a.get('k', SQRT_PI_2))
                mod = L1LayerNorm(c, eps=eps, k=k)
                self.roles += [(1, lname or 'l1layernorm', 'l1layernorm'),
                               (2, lname or 'l1layernorm', 'l1layernorm')]
            elif kind == 'add':
                if shapes[ins[0]] != shapes[ins[1]]:
                    die(f'{where}: adding shapes {shapes[ins[0]]} and {shapes[ins[1]]}')
            else:
                die(f'{where}: unknown layer {kind}')
            if mod is not None:
                self.layers.append(mod)
                self.plan.append((kind, len(self.layers) - 1, ins))
            else:
                self.plan.append((kind, -1, ins))
            shapes.append(out)
        self.shapes = shapes
        if spec.classes and shapes[self.output] != (spec.classes, 1, 1):
            die(f'the logits have shape {shapes[self.output]}, expected ({spec.classes}, 1, 1)')

    @staticmethod
    def _is_vec(i, spec):
        """Whether node i's value is held as (N, F) (after flatten or dense)."""
        while True:
            kind = spec.nodes[i][0]
            if kind in ('flatten', 'dense'):
                return True
            if kind in ('input', 'conv', 'conv2d', 'maxpool', 'avgpool'):
                return False
            i = spec.nodes[i][2][0]

    def forward(self, x):
        vals = []
        for kind, mi, ins in self.plan:
            if kind == 'input':
                v = x
            elif kind == 'add':
                v = vals[ins[0]] + vals[ins[1]]
            else:
                v = self.layers[mi](vals[ins[0]])
            vals.append(v)
        out = vals[self.output]
        return out.flatten(1) if out.dim() > 2 else out


# ------------------------------------------------------------------ checkpoints

ROLE_NAMES = {0: 'weight', 1: 'gamma', 2: 'beta'}


def _align(v):
    return (v + 63) // 64 * 64


def load_ckpt(path, net, spec):
    """Set net's parameters (and batchnorm/l1norm running statistics) from a nitc checkpoint, format 3."""
    try:
        b = open(path, 'rb').read()
    except OSError as e:
        die(f'{path}: {e.strerror}')
    u32 = lambda o: struct.unpack_from('<I', b, o)[0]
    i32 = lambda o: struct.unpack_from('<i', b, o)[0]
    u64 = lambda o: struct.unpack_from('<Q', b, o)[0]
    if len(b) < 16 or b[:8] != b'NITCKPT\0':
        die(f'{path}: not a nitc checkpoint (wrong magic)')
    ver = u32(8)
    if ver != 3:
        die(f'{path}: checkpoint format {ver}; --init reads format 3 (recipes with masters), whose '
            f'tensors carry their exponents')
    if len(b) < 572 or u64(16) != len(b):
        die(f'{path}: truncated checkpoint ({len(b)} bytes, the header says {u64(16) if len(b) >= 24 else "?"})')
    crc = zlib.crc32(b[:-4]) & 0xffffffff
    if crc != u32(len(b) - 4):
        die(f'{path}: corrupt checkpoint: checksum mismatch (stored 0x{u32(len(b) - 4):08x}, computed 0x{crc:08x})')
    name = b[32:96].split(b'\0', 1)[0].decode('utf-8', 'replace')
    if name != spec.name:
        die(f'{path}: checkpoint of model {name}, the .nit file is model {spec.name}')
    shape = (i32(280), i32(284), i32(288))
    if list(shape) != list(spec.shape):
        die(f'{path}: checkpoint input shape {shape}, the model has {tuple(spec.shape)}')
    if i32(264) != -7:
        die(f'{path}: input exponent {i32(264)}, the mirror assumes -7')
    np_ = u32(240)
    params = list(net.parameters())
    if np_ != len(params) or u32(560) != np_:
        die(f'{path}: checkpoint has {np_} parameter tensors, the PyTorch mirror of {spec.name} has '
            f'{len(params)} ({", ".join(ROLE_NAMES[r] + " of " + n for r, n, _ in net.roles)})')
    abits = u32(340)
    if abits not in (16, 32):
        die(f'{path}: master bits {abits}, expected 16 or 32')
    asz = abits // 8
    pbytes = u64(248)
    header = 568 + 32 * np_
    recs = []
    for t in range(np_):
        o = 568 + 32 * t
        recs.append(dict(role=u32(o), bits=u32(o + 4), mexp=i32(o + 8), mom=u32(o + 12),
                         momexp=i32(o + 16), chans=u32(o + 20), vexp=i32(o + 24)))
    # the slab layout (compiler/plan.c): per tensor, 64-aligned: int8 view, master,
    # momentum (when present), running statistics {mean m, e, var m, e} int32 per
    # channel (batchnorm gamma; l1norm gamma: {mean m, e, dev m, e}, dev the mean
    # absolute deviation); then the exponents {master, mom, view, 0} per tensor
    top, offs = 0, []
    for t, (p, r, role) in enumerate(zip(params, recs, net.roles)):
        if r['role'] != role[0]:
            die(f'{path}: parameter tensor {t} is a {ROLE_NAMES.get(r["role"], r["role"])} in the '
                f'checkpoint, a {ROLE_NAMES[role[0]]} ({role[2]} {role[1]}) in the mirror')
        if r['bits'] != abits:
            die(f'{path}: tensor {t} has {r["bits"]}-bit masters, the header says {abits}')
        want_ch = p.shape[0] if role[2] in ('batchnorm', 'l1norm') and role[0] == 1 else 0
        if r['chans'] != want_ch:
            die(f'{path}: tensor {t} ({ROLE_NAMES[role[0]]} of {role[2]} {role[1]}) has running statistics '
                f'for {r["chans"]} channels, the mirror expects {want_ch}')
        n = p.numel()
        top = _align(top + n)                   # view
        mo = top; top = _align(top + n * asz)   # master
        so = None
        if r['mom']:
            top = _align(top + n * asz)
        if r['chans']:
            so = top; top = _align(top + r['chans'] * 16)
        offs.append((mo, so))
    pstate = top
    top = _align(top + np_ * 16)
    if top != pbytes:
        die(f'{path}: the parameter slab holds {pbytes} bytes, the mirror\'s tensors '
            f'({", ".join(str(tuple(p.shape)) for p in params)}) lay out to {top}: the networks differ')
    if len(b) < header + pbytes + 4:
        die(f'{path}: truncated checkpoint')
    import numpy as np
    slab = b[header:header + pbytes]
    with torch.no_grad():
        for t, (p, r, (mo, so)) in enumerate(zip(params, recs, offs)):
            ps_exp = struct.unpack_from('<i', slab, pstate + 16 * t)[0]
            if ps_exp != r['mexp']:
                die(f'{path}: tensor {t}: the master exponent is {r["mexp"]} in its record, {ps_exp} in the slab')
            m = np.frombuffer(slab, dtype='<i2' if asz == 2 else '<i4', count=p.numel(), offset=mo)
            v = torch.from_numpy(m.astype(np.float64) * 2.0 ** r['mexp']).float()
            p.copy_(v.reshape(p.shape))
            if so is not None:
                st = np.frombuffer(slab, dtype='<i4', count=r['chans'] * 4, offset=so).reshape(-1, 4)
                st = st.astype(np.float64)
                mean = st[:, 0] * 2.0 ** st[:, 1]
                dev = st[:, 2] * 2.0 ** st[:, 3]    # the variance (batchnorm) or the L1 deviation (l1norm)
                bn = [mod for mod in net.modules() if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d, L1Norm))
                      and mod.weight is p]
                bn[0].running_mean.copy_(torch.from_numpy(mean).float())
                if isinstance(bn[0], L1Norm):
                    bn[0].running_dev.copy_(torch.from_numpy(dev).float())
                else:
                    bn[0].running_var.copy_(torch.from_numpy(dev).float())
    return dict(model=name, epoch=u32(96), step=u64(104), seed=u64(112), tensors=np_, master_bits=abits,
                master_exp=[r['mexp'] for r in recs])


# ------------------------------------------------------------------ schedule

def make_lr(sched, warmup, steps_per_epoch, scale):
    """lr(epoch 1-based, global step 0-based) as nitc computes it (docs/recipes.md)."""
    S = max(1, steps_per_epoch)

    def lr(epoch, t):
        if sched[0] == 'cosine':
            _, base, period, mn = sched
            T = period * S
            p = t % (2 * T)
            if p > T:
                p = 2 * T - p
            v = mn + (base - mn) * (1 + math.cos(math.pi * p / T)) / 2
        else:
            v = sched[1][0][1]
            for at, rate in sched[1]:
                if epoch >= at:
                    v = rate
        if warmup and t < warmup[0]:
            v *= warmup[1] + (1 - warmup[1]) * t / warmup[0]
        return v * scale
    return lr


def blas_info():
    cfg = torch.__config__.show()
    m = re.search(r'BLAS_INFO=([^,\s]+)', cfg)
    info = f'BLAS_INFO={m.group(1) if m else "?"}'
    torch.ones(64, 64) @ torch.ones(64, 64)   # make sure the BLAS is loaded
    libs = set()
    try:
        with open('/proc/self/maps') as f:
            for line in f:
                path = line.split()[-1] if len(line.split()) >= 6 else ''
                base = os.path.basename(path)
                if re.search(r'blas|mkl|blis|lapack', base) and path.startswith('/'):
                    libs.add(os.path.realpath(path))
    except OSError:
        pass
    mkldnn = 'MKL-DNN' in cfg or 'oneDNN' in cfg
    return (f'torch {torch.__version__}, {info}, loaded: {", ".join(sorted(libs)) or "none found"}'
            f'{", oneDNN for convolutions" if mkldnn and torch.backends.mkldnn.is_available() else ""}, '
            f'{torch.get_num_threads()} threads, OMP_WAIT_POLICY={os.environ.get("OMP_WAIT_POLICY")}, '
            f'OPENBLAS_NUM_THREADS={os.environ.get("OPENBLAS_NUM_THREADS")}')


# ------------------------------------------------------------------ main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split('\n\n', 1)[1])
    ap.add_argument('model')
    ap.add_argument('--data', help='idx data directory [the train block\'s data]')
    ap.add_argument('--schedule', choices=['auto', 'fixed', 'file'], default='auto',
                    help='fixed: the NITI fp32 baseline; file: the train block; auto: file unless recipe niti')
    ap.add_argument('--epochs', type=int); ap.add_argument('--batch', type=int)
    ap.add_argument('--lr', type=float, help='a constant rate (replaces the schedule)')
    ap.add_argument('--lr-scale', type=float, default=1.0, help='multiply the schedule\'s rates')
    ap.add_argument('--momentum', type=float)
    ap.add_argument('--wd', '--decay', dest='wd', type=float, help='coupled weight decay')
    ap.add_argument('--seed', type=int)
    ap.add_argument('--init', metavar='CKPT', help='initial weights from a nitc checkpoint (format 3)')
    ap.add_argument('--inputs', choices=['standardize', 'unit', 'nitc'],
                    help='standardize: (p/255 - mean)/std; unit: p/255; nitc: (p>>1)/128 '
                         '[unit with --init, else standardize]')
    ap.add_argument('--limit', '--train-limit', dest='limit', type=int, default=0,
                    help='train on the first N samples')
    ap.add_argument('--test-limit', type=int, default=0)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--eval-only', action='store_true',
                    help='evaluate the starting network (--init CKPT) on the test set, no training step')
    ap.add_argument('--log', help='JSON lines, one per epoch (required unless --eval-only)')
    a = ap.parse_args()
    if not a.log and not a.eval_only:
        ap.error('--log is required (unless --eval-only)')

    spec = parse_nit(a.model)
    tb = spec.train
    mode = a.schedule
    if mode == 'auto':
        mode = 'fixed' if tb['recipe'] == 'niti' else 'file'
    if mode == 'fixed':
        epochs = a.epochs or 10
        batch = a.batch or 64
        seed = a.seed if a.seed is not None else 1
        sched = ('piecewise', [(1, 0.01)])
        momentum, wd, warmup = 0.9, 5e-4, None
    else:
        epochs = a.epochs or tb['epochs']
        batch = a.batch or tb['batch']
        seed = a.seed if a.seed is not None else tb['seed']
        sched, momentum, wd, warmup = tb['lr'], tb['momentum'], tb['decay'], tb['warmup']
    if a.lr is not None:
        sched = ('piecewise', [(1, a.lr)])
    if a.momentum is not None:
        momentum = a.momentum
    if a.wd is not None:
        wd = a.wd
    data = a.data or tb['data']
    if not data:
        die('no --data and no data in the train block')
    if not a.data and not os.path.isabs(data) and not os.path.isdir(data):
        # the train block's directory is relative to where nitc runs: try the
        # .nit file's directory and its parents too (examples/ -> the repository)
        d = os.path.dirname(os.path.abspath(a.model))
        while True:
            if os.path.isdir(os.path.join(d, data)):
                data = os.path.join(d, data)
                break
            if os.path.dirname(d) == d:
                break
            d = os.path.dirname(d)
    if not os.path.exists(os.path.join(data, 'train-images-idx3-ubyte')):
        die(f'{data}: no idx data (train-images-idx3-ubyte); give --data DIR')
    inputs = a.inputs or ('unit' if a.init else 'standardize')

    torch.set_num_threads(a.threads)
    print(f'torch_mirror: {blas_info()}', file=sys.stderr, flush=True)
    torch.manual_seed(seed)
    x, y, tx, ty = load(data, 'nitc' if inputs == 'nitc' else 'unit')
    if a.limit:
        x, y = x[:a.limit], y[:a.limit]
    if a.test_limit:
        tx, ty = tx[:a.test_limit], ty[:a.test_limit]
    if inputs == 'standardize':
        mean, std = x.mean().item(), x.std().item()
        x = (x - mean) / std
        tx = (tx - mean) / std
    net = Net(spec)
    if a.init:
        info = load_ckpt(a.init, net, spec)
        print(f'torch_mirror: initial weights from {a.init} (model {info["model"]}, seed {info["seed"]}, '
              f'epochs done: {info["epoch"]}, {info["tensors"]} tensors, int{info["master_bits"]} masters)',
              file=sys.stderr, flush=True)
    n = x.shape[0]
    steps = (n + batch - 1) // batch
    lr_at = make_lr(sched, warmup, steps, a.lr_scale)
    desc = (f'cosine({sched[1]}, period={sched[2]}, min={sched[3]})' if sched[0] == 'cosine'
            else ' then '.join(f'{r} at {e}' if e > 1 else f'{r}' for e, r in sched[1]))
    if warmup:
        desc += f', warmup steps({warmup[0]}, ratio={warmup[1]})'
    print(f'torch_mirror: {spec.name}, schedule {mode}: lr {desc}{f" x {a.lr_scale}" if a.lr_scale != 1 else ""}, '
          f'momentum {momentum}, decay {wd}, batch {batch}, epochs {epochs}, seed {seed}, inputs {inputs}, '
          f'{n} training samples', file=sys.stderr, flush=True)

    def evaluate():
        net.eval()
        tc, tl = 0, 0.0
        with torch.no_grad():
            for i in range(0, tx.shape[0], 1000):
                out = net(tx[i:i + 1000])
                tl += F.cross_entropy(out, ty[i:i + 1000], reduction='sum').item()
                tc += (out.argmax(1) == ty[i:i + 1000]).sum().item()
        return tc, tl

    if a.eval_only:
        t0 = time.time()
        tc, tl = evaluate()
        rec = dict(epoch=0, epochs=0, step=0, train_loss=0.0, train_acc=0.0,
                   test_acc=round(tc / tx.shape[0], 4), test_loss=round(tl / tx.shape[0], 4),
                   samples_per_sec=0, seconds=round(time.time() - t0, 3), train_correct=0, train_samples=0,
                   test_correct=tc, test_samples=tx.shape[0], lr=f'{0:.12f}')
        if a.log:
            with open(a.log, 'w') as log:
                log.write(json.dumps(rec) + '\n')
        print(f'eval only: test {100 * rec["test_acc"]:.2f}% ({tc}/{tx.shape[0]})  loss {rec["test_loss"]:.4f}',
              flush=True)
        return
    opt = torch.optim.SGD(net.parameters(), lr=lr_at(1, 0), momentum=momentum, weight_decay=wd)
    gen = torch.Generator().manual_seed(seed)
    with open(a.log, 'w') as log:
        step = 0
        for ep in range(1, epochs + 1):
            net.train()
            t0 = time.time()
            lr0 = lr_at(ep, step)
            perm = torch.randperm(n, generator=gen)
            tot_loss, correct = 0.0, 0
            for i in range(0, n, batch):
                idx = perm[i:i + batch]
                for g in opt.param_groups:
                    g['lr'] = lr_at(ep, step)
                out = net(x[idx])
                loss = F.cross_entropy(out, y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                step += 1
                tot_loss += loss.item() * idx.numel()
                correct += (out.argmax(1) == y[idx]).sum().item()
            train_time = time.time() - t0
            tc, tl = evaluate()
            rec = dict(epoch=ep, epochs=epochs, step=step,
                       train_loss=round(tot_loss / n, 4), train_acc=round(correct / n, 4),
                       test_acc=round(tc / tx.shape[0], 4), test_loss=round(tl / tx.shape[0], 4),
                       samples_per_sec=int(n / train_time), seconds=round(time.time() - t0, 3),
                       train_correct=correct, train_samples=n, test_correct=tc,
                       test_samples=tx.shape[0], lr=f'{lr0:.12f}')
            log.write(json.dumps(rec) + '\n'); log.flush()
            print(f'epoch {ep}/{epochs}  loss {rec["train_loss"]:.4f}  train {100*rec["train_acc"]:.2f}%  '
                  f'test {100*rec["test_acc"]:.2f}%  {rec["samples_per_sec"]} samples/s', flush=True)


if __name__ == '__main__':
    main()
