model m {
    input x[4]
    output y(2)
    $$$$$$$$$$$$$$$$$$$$$$$$$
}
