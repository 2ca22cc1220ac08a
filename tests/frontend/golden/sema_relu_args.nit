model m {
    input x[1, 8, 8]
    output y(10)
    relu(2)
    flatten
    dense(10)
}
