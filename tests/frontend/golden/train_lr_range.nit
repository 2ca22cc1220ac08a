model m {
    input x[4]
    output y(2)
    dense(2)
}
train {
    recipe ghaffari
    lr 0 then -1 at 2
}
