model m {
    input x[1, 8, 8]
    output y(10)
    let a = conv(x, 4, kernel=3, pad=1)
    let b = relu(x + a)
    flatten
    dense(10)
}
