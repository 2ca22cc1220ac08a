model m {
    input x[1, 8, 8]
    output y(10)
    conv(4, kernel=9)
    flatten
    dense(10)
}
