model m {
    input x[4]
    output y(2)
    dense(2)
}
train {
    recipe unified
    lrscale exp(alpha=0, beta=1.5)
    clip cosine(2)
}
