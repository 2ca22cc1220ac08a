model m {
    input x[16]
    output y(10)
    dense(16)
    l1norm(k=100.5, eps=1)
    dense(10)
}
train {
    recipe ghaffari
}
