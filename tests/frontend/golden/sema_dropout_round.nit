model m {
    input x[1, 8, 8]
    output y(10)
    dropout(0.999)
    flatten
    dense(10)
}
