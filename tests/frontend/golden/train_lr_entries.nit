model m {
    input x[4]
    output y(2)
    dense(2)
}
train {
    recipe ghaffari
    lr 9 then 8 at 2 then 7 at 3 then 6 at 4 then 5 at 5 then 4 at 6 then 3 at 7 then 2 at 8 then 1 at 9
}
