model m {
    input x[1, 8, 8]
    output y(10)
    conv(4, kernel=2000000000)
    flatten
    dense(10)
}
