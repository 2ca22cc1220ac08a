# A residual network with batch normalization under recipe ghaffari
# (docs/recipes.md): integer batch statistics in training, running
# statistics in evaluation, integer SGD with momentum on int16 masters and
# a cosine learning-rate schedule. About 1.25 M multiply-adds per sample.
model resnet_bn {
    input  x[1, 28, 28]
    output classes(10)

    let stem = relu(batchnorm(conv c0(x, 16, kernel=3, pad=1)))     # (16, 28, 28)
    let p0   = maxpool(stem, 2)                                      # (16, 14, 14)
    let r1   = relu(batchnorm(conv(p0, 16, kernel=3, pad=1)))
    let b1   = relu(p0 + batchnorm(conv(r1, 16, kernel=3, pad=1)))
    let p1   = maxpool(b1, 2)                                        # (16, 7, 7)
    let r2   = relu(batchnorm(conv(p1, 16, kernel=3, pad=1)))
    let b2   = relu(p1 + batchnorm(conv(r2, 16, kernel=3, pad=1)))
    flatten
    dense head(10)
}

train {
    recipe    ghaffari
    data      idx("data/fashion-mnist")
    batch     64
    epochs    10
    lr        cosine(0.1, period=10)
    momentum  0.9
    decay     0.0005
    master    int16
    seed      1
}
