model m {
    input x[4]
    output y(2)
    dense(2)
}
train {
    recipe   ghaffari
    bits     act=4 weight=4
    momentum 2
}
