model m {
    input x[4]
    output y(2)
    dense(2)
}
train {
    recipe ghaffari
    clip cosine(every=10)
    lrscale off
}
