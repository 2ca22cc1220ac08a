#!/usr/bin/env python3
"""fp32 PyTorch mirror of a sequential nitc model: the baseline of the accuracy runs.

Reads the layer list of a .nit file (conv, relu, maxpool, avgpool, flatten, dense,
dropout; sequential models only), builds the same network in PyTorch *without biases*
(nitc has none), and trains it the way the NITI paper trains its fp32 baseline:
SGD, lr 0.01, momentum 0.9, weight decay 5e-4, batch 64, inputs normalized by the
training set's mean and standard deviation. Writes one JSON object per epoch in the
same shape as the nitc executable's --log, so both can be tabulated and plotted by
the same scripts.

Deliberately independent of the nitc code: it reads idx files itself.
"""
import argparse, json, re, struct, sys, time

import torch
import torch.nn as nn
import torch.nn.functional as F


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


def load(dirname):
    x = read_idx(f'{dirname}/train-images-idx3-ubyte').float().div_(255.0)
    y = read_idx(f'{dirname}/train-labels-idx1-ubyte').long()
    tx = read_idx(f'{dirname}/t10k-images-idx3-ubyte').float().div_(255.0)
    ty = read_idx(f'{dirname}/t10k-labels-idx1-ubyte').long()
    if x.dim() == 3:
        x, tx = x.unsqueeze(1), tx.unsqueeze(1)
    return x, y, tx, ty


LAYER = re.compile(r'^\s*(conv|relu|maxpool|avgpool|flatten|dense|dropout)\b\s*(\w+)?\s*(?:\((.*)\))?\s*$')


def parse_nit(path):
    """The input shape and the layer list of a sequential .nit model."""
    shape, layers = None, []
    inmodel = False
    for raw in open(path):
        line = raw.split('#', 1)[0].strip()
        if not line:
            continue
        if line.startswith('model '):
            inmodel = True
            continue
        if not inmodel:
            continue
        if line == '}':
            break
        m = re.match(r'input\s+\w+\[(.*)\]', line)
        if m:
            shape = [int(v) for v in m.group(1).split(',')]
            continue
        if line.startswith('output'):
            continue
        m = LAYER.match(line)
        if not m:
            sys.exit(f'{path}: the fp32 mirror handles sequential models only; cannot read: {line}')
        kind, _name, args = m.group(1), m.group(2), m.group(3)
        pos, kw = [], {}
        for a in (args.split(',') if args else []):
            a = a.strip()
            if '=' in a:
                k, v = a.split('=', 1)
                kw[k.strip()] = v.strip()
            elif a:
                pos.append(a)
        layers.append((kind, pos, kw))
    if shape is None:
        sys.exit(f'{path}: no input line')
    return shape, layers


def build(shape, layers):
    c, h, w = shape
    mods = []
    flat = None
    for kind, pos, kw in layers:
        if kind == 'conv':
            o = int(pos[0]); k = int(kw.get('kernel', 3)); s = int(kw.get('stride', 1))
            p = int(kw.get('pad', 0)); g = int(kw.get('groups', 1))
            mods.append(nn.Conv2d(c, o, k, stride=s, padding=p, groups=g, bias=False))
            c, h, w = o, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        elif kind in ('maxpool', 'avgpool'):
            k = int(pos[0]) if pos else int(kw.get('window', 2))
            s = int(kw.get('stride', k)); p = int(kw.get('pad', 0))
            mods.append((nn.MaxPool2d if kind == 'maxpool' else nn.AvgPool2d)(k, s, p))
            h, w = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        elif kind == 'relu':
            mods.append(nn.ReLU())
        elif kind == 'flatten':
            mods.append(nn.Flatten())
            flat = c * h * w
        elif kind == 'dense':
            n = int(pos[0])
            fin = flat if flat is not None else c * h * w
            if flat is None:
                mods.append(nn.Flatten())
            mods.append(nn.Linear(fin, n, bias=False))
            flat = n
        elif kind == 'dropout':
            mods.append(nn.Dropout(float(pos[0])))
    return nn.Sequential(*mods)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('model'); ap.add_argument('--data', required=True)
    ap.add_argument('--epochs', type=int, default=10); ap.add_argument('--batch', type=int, default=64)
    ap.add_argument('--lr', type=float, default=0.01); ap.add_argument('--momentum', type=float, default=0.9)
    ap.add_argument('--wd', type=float, default=5e-4); ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--limit', type=int, default=0); ap.add_argument('--test-limit', type=int, default=0)
    ap.add_argument('--threads', type=int, default=1); ap.add_argument('--log', required=True)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    x, y, tx, ty = load(a.data)
    if a.limit:
        x, y = x[:a.limit], y[:a.limit]
    if a.test_limit:
        tx, ty = tx[:a.test_limit], ty[:a.test_limit]
    mean, std = x.mean().item(), x.std().item()
    x = (x - mean) / std
    tx = (tx - mean) / std
    net = build(*parse_nit(a.model))
    opt = torch.optim.SGD(net.parameters(), lr=a.lr, momentum=a.momentum, weight_decay=a.wd)
    gen = torch.Generator().manual_seed(a.seed)
    n = x.shape[0]
    with open(a.log, 'w') as log:
        step = 0
        for ep in range(1, a.epochs + 1):
            net.train()
            t0 = time.time()
            perm = torch.randperm(n, generator=gen)
            tot_loss, correct = 0.0, 0
            for i in range(0, n, a.batch):
                idx = perm[i:i + a.batch]
                out = net(x[idx])
                loss = F.cross_entropy(out, y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                step += 1
                tot_loss += loss.item() * idx.numel()
                correct += (out.argmax(1) == y[idx]).sum().item()
            train_time = time.time() - t0
            net.eval()
            tc, tl = 0, 0.0
            with torch.no_grad():
                for i in range(0, tx.shape[0], 1000):
                    out = net(tx[i:i + 1000])
                    tl += F.cross_entropy(out, ty[i:i + 1000], reduction='sum').item()
                    tc += (out.argmax(1) == ty[i:i + 1000]).sum().item()
            rec = dict(epoch=ep, epochs=a.epochs, step=step,
                       train_loss=round(tot_loss / n, 4), train_acc=round(correct / n, 4),
                       test_acc=round(tc / tx.shape[0], 4), test_loss=round(tl / tx.shape[0], 4),
                       samples_per_sec=int(n / train_time), seconds=round(time.time() - t0, 3),
                       train_correct=correct, train_samples=n, test_correct=tc,
                       test_samples=tx.shape[0])
            log.write(json.dumps(rec) + '\n'); log.flush()
            print(f'epoch {ep}/{a.epochs}  loss {rec["train_loss"]:.4f}  train {100*rec["train_acc"]:.2f}%  '
                  f'test {100*rec["test_acc"]:.2f}%  {rec["samples_per_sec"]} samples/s', flush=True)


if __name__ == '__main__':
    main()
