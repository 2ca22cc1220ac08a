# A CIFAR-shaped stem with ResNet's pools: 3 by 3 max pools at stride 2,
# padded, and a global average pool (docs/performance.md, "Pools that
# overlap or pad"). For bench/ab.sh on synthetic CIFAR:
#   build/tests/nitrt_mkdata cifar /tmp/cifar 2048 1000
#   build/compiler/nitc bench/pools_overlap.nit -o /tmp/b
#   bench/ab.sh --data /tmp/cifar --limit 10240 /tmp/a /tmp/b
model pools_overlap {
    input  x[3, 32, 32]
    output classes(10)

    conv c0(32, kernel=3, pad=1)    # (32, 32, 32)
    relu
    maxpool(3, stride=2, pad=1)     # (32, 16, 16)
    conv c1(64, kernel=3, pad=1)    # (64, 16, 16)
    relu
    maxpool(3, stride=2, pad=1)     # (64, 8, 8)
    avgpool(8)                      # (64, 1, 1)
    flatten
    dense head(10)
}

train {
    data      idx("data/cifar10")
    batch     64
    epochs    2
    seed      1
}
