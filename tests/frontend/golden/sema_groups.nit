model m {
    input x[3, 8, 8]
    output y(10)
    conv(6, kernel=3, groups=2)
    flatten
    dense(10)
}
