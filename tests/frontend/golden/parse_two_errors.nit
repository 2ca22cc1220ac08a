model m {
    input x[4]
    output y(2)
    dense(2 3)
    relu relu relu
    dense(2)
}
