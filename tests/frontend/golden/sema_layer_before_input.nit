model m {
    relu
    input x[4]
    output y(2)
    dense(2)
}
