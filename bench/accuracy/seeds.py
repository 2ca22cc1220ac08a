#!/usr/bin/env python3
"""The "Over seeds" table of docs/results.md from bench/accuracy/run's logs.

    bench/accuracy/seeds.py DIR [DIR ...]

Each DIR is an --out directory of `bench/accuracy/run` for one seed (its
logs/SIDE-NET-DATA[-sN].jsonl). For every network and data set with an int8
log in every DIR: the mean test accuracy after 1, 5 and 10 epochs, the
final accuracies' range, and the mean of each seed's best epoch; then the
same for the fp32 logs where every DIR has one. Markdown on stdout.
"""
import glob
import json
import os
import re
import sys

NETS = (("lenet_niti", "NITI LeNet"), ("lenet5", "LeNet-5"), ("mlp", "MLP"))
DATA = (("mnist", "MNIST"), ("fashion-mnist", "Fashion-MNIST"))


def curve(path):
    """test accuracy (percent) by epoch, from one run's log"""
    acc = {}
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if "epoch" in r and "test_acc" in r:
                acc[r["epoch"]] = 100.0 * r["test_acc"]
    return acc


def find(d, side, net, data):
    """DIR/logs/SIDE-NET-DATA.jsonl or SIDE-NET-DATA-sN.jsonl (a variant's
    --tag is not matched), or None"""
    pat = re.compile(r"%s-%s-%s(-s[0-9]+)?\.jsonl$" % (side, re.escape(net), re.escape(data)))
    hits = [p for p in glob.glob(os.path.join(d, "logs", "*.jsonl")) if pat.match(os.path.basename(p))]
    return hits[0] if len(hits) == 1 else None


def table(dirs, side):
    rows = []
    for net, net_name in NETS:
        for data, data_name in DATA:
            paths = [find(d, side, net, data) for d in dirs]
            if None in paths:
                continue
            curves = [curve(p) for p in paths]
            if any(not all(e in c for e in (1, 5, 10)) for c in curves):
                sys.exit("seeds.py: a log of %s %s %s has no epoch 1, 5 or 10" % (side, net, data))
            mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
            final = [c[10] for c in curves]
            rows.append("| %s | %s | %.2f%% | %.2f%% | %.2f%% | %.2f..%.2f | %.2f%% |" % (
                net_name, data_name, mean([c[1] for c in curves]), mean([c[5] for c in curves]), mean(final),
                min(final), max(final), mean([max(c[e] for e in range(1, 11)) for c in curves])))
    return rows


def main():
    dirs = sys.argv[1:]
    if not dirs:
        sys.exit(__doc__.strip())
    for side in ("int8", "fp32"):
        rows = table(dirs, side)
        if not rows:
            continue
        print("%s, means over %d seeds:\n" % (side, len(dirs)))
        print("| network | data | 1 epoch | 5 epochs | 10 epochs (final) | final min..max | best of 10 |")
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
        print("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
