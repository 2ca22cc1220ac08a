model m {
    input x[1, 8, 8]
    output y(10)
    conv(6, kernle=5)
    flatten
    dense(10)
}
