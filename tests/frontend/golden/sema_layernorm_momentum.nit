model m {
    input x[16]
    output y(10)
    dense(16)
    layernorm(momentum=0.1)
    dense(10)
}
train {
    recipe ghaffari
}
