model m {
    input x[1, 8, 8]
    output y(10)
    let a = relu(x)
    let a = relu(a)
    flatten
    dense(10)
}
