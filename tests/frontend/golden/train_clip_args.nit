model m {
    input x[4]
    output y(2)
    dense(2)
}
train {
    recipe unified
    clip cosine(every=0, range=9, grid=half, foo=1)
}
