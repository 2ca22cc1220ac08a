model m {
    input x[4]
    dense(2)
}
