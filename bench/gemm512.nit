# bench/gemm512.nit: three 512 x 512 dense layers; at --batch 512 every
# forward, input-error and weight-gradient product of h2 and h3 is an int8
# GEMM of 512^3 (bench/run --nets gemm512 --batches 512).
model gemm512 {
    input  image[1, 28, 28]
    output classes(10)

    flatten
    dense  h1(512)
    relu
    dense  h2(512)
    relu
    dense  h3(512)
    relu
    dense  logits(10)
}

train {
    data      idx("data/mnist")
    batch     512
    epochs    1
    rounding  pseudo
    update    bits(3)
    weights   int8
    seed      1
}
