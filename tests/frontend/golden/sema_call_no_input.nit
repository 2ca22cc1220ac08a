model m {
    input x[1, 8, 8]
    output y(10)
    let a = conv(kernel=3)
    flatten
    dense(10)
}
