model m {
    input x[1, 28, 28]
    output y(10)
    conv(4, kernel=3, pad=1)
    batchnorm
    relu
    dense(10)
}
train {
    recipe ghaffari
    batch 2048
}
