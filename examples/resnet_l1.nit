# The residual network of resnet_bn.nit under recipe shiftquant
# (docs/recipes.md): L1 batch normalization (mean absolute deviation times
# sqrt(pi/2) in place of the standard deviation) and 4-bit errors whose
# channels get power-of-two scales formed by shifting.
model resnet_l1 {
    input  x[1, 28, 28]
    output classes(10)

    let stem = relu(l1norm(conv c0(x, 16, kernel=3, pad=1)))        # (16, 28, 28)
    let p0   = maxpool(stem, 2)                                      # (16, 14, 14)
    let r1   = relu(l1norm(conv(p0, 16, kernel=3, pad=1)))
    let b1   = relu(p0 + l1norm(conv(r1, 16, kernel=3, pad=1)))
    let p1   = maxpool(b1, 2)                                        # (16, 7, 7)
    let r2   = relu(l1norm(conv(p1, 16, kernel=3, pad=1)))
    let b2   = relu(p1 + l1norm(conv(r2, 16, kernel=3, pad=1)))
    flatten
    dense head(10)
}

train {
    recipe    shiftquant
    data      idx("data/fashion-mnist")
    batch     64
    epochs    10
    bits      grad=4                  # act=4 weight=4 grad=4: the paper-like 4-bit run
    groups    channel
    lr        cosine(0.1, period=10)
    momentum  0.9
    decay     0.0005
    master    int16
    seed      1
}
