model m {
    input x[16]
    output y(10)
    dense(16)
    batchnorm(eps=0, momentum=1.5)
    l1norm(k=100.5, eps=1)
    layernorm(momentum=0.1)
    l1layernorm(0.1)
    dense(10)
}
train {
    recipe ghaffari
}
