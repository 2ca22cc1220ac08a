model m {
    input x[4]
    output y(2)
    dense(2)
}
train {
    recipe ghaffari
    lr cosine(0.1, period=10, min=0.5)
}
