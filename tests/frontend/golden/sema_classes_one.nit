model m {
    input x[4]
    output y(1)
    dense(1)
}
