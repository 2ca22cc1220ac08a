model m {
    input x[28, 28]
    output y(10)
    flatten
    dense(10)
}
