model m {
    input x[1, 8, 8]
    output y(10)
    avgpool(3)
    flatten
    dense(10)
}
