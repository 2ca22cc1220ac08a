model m {
    input x[4]
    output y(2)
    dense(2)
}
train {
    recipe ghaffari
    lr cosine(0.1, 0.2, periods=3)
}
