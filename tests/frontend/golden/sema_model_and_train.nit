model m {
    input x[1, 8, 8]
    output y(10)
    flatten
    dense(0)
}
train {
    batch 0
}
