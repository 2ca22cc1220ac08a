model m {
    input x[1, 8, 8]
    output y(10)
	dense(0)
}
