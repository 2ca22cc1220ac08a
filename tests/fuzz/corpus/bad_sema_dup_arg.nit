model m {
    input x[1, 8, 8]
    output y(10)
    conv(6, kernel=3, kernel=5)
    flatten
    dense(10)
}
