model m {
    input x[4]
    output y(2)
    dense(2)
}
train {
    recipe ghaffari
    bits act=8 weight=4 grad=1
}
