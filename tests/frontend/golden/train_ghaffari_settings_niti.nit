model m {
    input x[4]
    output y(2)
    dense(2)
}
train {
    lr 0.1
    warmup 100
    momentum 0.9
    master int32
    bits act=8
    rounding act=pseudo view=nearest
    decay 0.0005
}
