model m {
    input x[4]
    output y(2)
    dense(2)
}
train {
    recipe niti
    bits grad=4
    groups channel
}
