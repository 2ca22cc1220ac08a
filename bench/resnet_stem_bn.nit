# A CIFAR-shaped ResNet stem under recipe ghaffari: five batchnorms, a
# padded 3 by 3 max pool at stride 2, two residual adds (one through a 1 by
# 1 projection) and a global average pool (docs/performance.md, "The day's
# changes together"). For bench/ab.sh on synthetic CIFAR:
#   build/tests/nitrt_mkdata cifar /tmp/cifar 2048 1000
#   build/compiler/nitc bench/resnet_stem_bn.nit -o /tmp/b
#   bench/ab.sh --data /tmp/cifar --limit 5120 /tmp/a /tmp/b
model resnet_stem_bn {
    input  x[3, 32, 32]
    output classes(10)

    let s0 = relu(batchnorm(conv c0(x, 32, kernel=3, pad=1)))          # (32, 32, 32)
    let p0 = maxpool(s0, 3, stride=2, pad=1)                              # (32, 16, 16)
    let a1 = relu(batchnorm(conv(p0, 32, kernel=3, pad=1)))
    let b1 = relu(p0 + batchnorm(conv(a1, 32, kernel=3, pad=1)))
    let a2 = relu(batchnorm(conv(b1, 64, kernel=3, stride=2, pad=1)))     # (64, 8, 8)
    let b2 = relu(batchnorm(conv(b1, 64, kernel=1, stride=2)) + batchnorm(conv(a2, 64, kernel=3, pad=1)))
    let g  = avgpool(b2, 8)                                               # (64, 1, 1)
    flatten
    dense head(10)
}

train {
    recipe    ghaffari
    data      idx("data/cifar10")
    batch     64
    epochs    1
    lr        cosine(0.1, period=10)
    momentum  0.9
    master    int16
    seed      1
}
