model m {
    input x[4]
    output y(2)
    dense(2)
}
train {
    recipe shiftquant
    update bits(3)
    weights int16
    decay on
}
