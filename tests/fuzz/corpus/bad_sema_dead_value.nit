model m {
    input x[1, 8, 8]
    output y(10)
    let a = relu(conv(x, 4, kernel=3))
    let b = relu(conv(x, 4, kernel=3))
    flatten
    dense(10)
}
