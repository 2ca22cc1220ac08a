model m {
    input x[1, 8, 8]
    output y(10)
    conv(4, kernel=3, pad=3)
    flatten
    dense(10)
}
