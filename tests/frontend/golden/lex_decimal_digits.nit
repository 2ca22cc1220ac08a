model m {
    input x[4]
    output y(2)
    dropout(0.1234567891)
    dense(2)
}
