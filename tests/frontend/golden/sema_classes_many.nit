model m {
    input x[4]
    output y(8192)
    dense(8192)
}
