#!/usr/bin/env python3
"""bench/torch_ref.py NET BATCH THREADS SAMPLES: PyTorch fp32 training
throughput of the example networks, for bench/run's comparison column.
bench/torch_ref.py --blas THREADS: one line saying which BLAS and how many
threads PyTorch computes with here (bench/run refuses to compare against
the reference BLAS).

Same layer shapes as examples/NET.nit, SGD with momentum 0.9, cross entropy,
random inputs of the right shape (throughput does not depend on the values).
Prints training samples per second (training steps only, after two warm-up
steps), like the nitc executables' epoch line."""
import sys
import time

import torch
import torch.nn as nn


def net_for(name):
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                             nn.Linear(256, 10)), (1, 28, 28)
    if name == "lenet5":
        return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5),
                             nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(),
                             nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10)), (1, 28, 28)
    if name == "vgg_small":
        return nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(),
                             nn.Conv2d(128, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(128, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25),
                             nn.Flatten(), nn.Linear(4096, 10)), (3, 32, 32)
    raise SystemExit("unknown network " + name)


def blas_line(threads):
    """The BLAS is whatever libblas.so.3 resolves to (Debian's alternatives):
    read it off this process's mappings after a matrix product."""
    torch.set_num_threads(threads)
    a = torch.rand(256, 256)
    (a @ a).sum().item()
    libs = sorted({ln.split()[-1] for ln in open("/proc/self/maps")
                   if ln.split()[-1].startswith("/") and ("blas" in ln or "mkl" in ln)})
    if any("openblas" in l for l in libs):
        kind = "openblas"
    elif any("mkl" in l for l in libs):
        kind = "mkl"
    elif any("/blas/" in l or "libblas" in l for l in libs):
        kind = "reference"
    else:
        kind = "unknown"
    main_lib = next((l for l in libs if "openblas" in l or "mkl" in l), libs[0] if libs else "none")
    onednn = "yes" if torch.backends.mkldnn.is_available() else "no"
    print("torch=%s blas=%s lib=%s threads=%d onednn=%s" % (torch.__version__, kind, main_lib,
                                                            torch.get_num_threads(), onednn))


def main():
    if sys.argv[1] == "--blas":
        blas_line(int(sys.argv[2]))
        return
    name, batch, threads, samples = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(threads)
    if torch.get_num_threads() != threads:
        raise SystemExit("torch_ref.py: asked for %d threads, PyTorch uses %d" % (threads, torch.get_num_threads()))
    torch.manual_seed(1)
    model, shape = net_for(name)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    steps = max(1, samples // batch)
    x = torch.rand(batch, *shape)
    y = torch.randint(0, 10, (batch,))
    model.train()
    for i in range(steps + 2):
        if i == 2:
            t0 = time.perf_counter()
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    dt = time.perf_counter() - t0
    print(int(steps * batch / dt))


if __name__ == "__main__":
    main()
