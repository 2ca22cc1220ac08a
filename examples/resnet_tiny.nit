# A tiny residual network: a stem, two residual blocks, global pooling.
model resnet_tiny {
    input  x[1, 28, 28]
    output classes(10)

    let stem = relu(conv c0(x, 16, kernel=3, pad=1))          # (16, 28, 28)

    # residual block 1
    let r1 = relu(conv(stem, 16, kernel=3, pad=1))
    let b1 = relu(stem + conv(r1, 16, kernel=3, pad=1))

    # residual block 2
    let r2 = relu(conv(b1, 16, kernel=3, pad=1))
    let b2 = relu(b1 + conv(r2, 16, kernel=3, pad=1))

    maxpool(2)                                               # (16, 14, 14), consumes b2
    maxpool(2)                                               # (16, 7, 7)
    flatten
    dense head(10)
}

train {
    batch     32
    epochs    3
    rounding  pseudo
    update    bits(3)
}
