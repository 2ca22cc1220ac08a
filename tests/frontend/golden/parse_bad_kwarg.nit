model m {
    input x[4]
    output y(2)
    conv(6, kernel=)
}
