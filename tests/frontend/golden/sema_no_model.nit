train {
    batch 64
}
