model m {
    input x[4]
    input z[4]
    output y(2)
    dense(2)
}
