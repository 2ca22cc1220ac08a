model m {
    input x[1, 1024, 1024]
    output y(10)
    conv(2, kernel=1)
    l1layernorm
    dense(10)
}
train {
    recipe ghaffari
}
