model m {
    input image[1, 8, 8]
    output y(10)
    let a = relu(imgae)
    flatten
    dense(10)
}
