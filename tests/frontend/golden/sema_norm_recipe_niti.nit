model m {
    input x[1, 8, 8]
    output y(10)
    conv(4, kernel=3)
    l1norm(k=2)
    layernorm
    relu
    dense(10)
}
train {
    epochs 2
    recipe niti
}
