model m {
    input x[4]
    output y(2)
    dense(2)
}
train {
    update bits(3) then 2 at 5 then 1 at 5
}
