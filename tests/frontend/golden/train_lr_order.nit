model m {
    input x[4]
    output y(2)
    dense(2)
}
train {
    recipe ghaffari
    lr 0.1 then 0.01 at 30 then 0.001 at 20
}
