model m {
    input x[1, 8, 8]
    output y(10)
    maxpool(2, size=2)
    flatten
    dense(10)
}
