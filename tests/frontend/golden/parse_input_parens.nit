model m {
    input x(1, 28, 28)
    output y(2)
    dense(2)
}
