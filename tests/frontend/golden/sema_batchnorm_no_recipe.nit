model m {
    input x[1, 8, 8]
    output y(10)
    conv(4, kernel=3)
    batchnorm
    relu
    dense(10)
}
