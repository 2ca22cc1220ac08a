model m {
    input x[1, 8, 8]
    output y(10)
    let a = 5
    flatten
    dense(10)
}
