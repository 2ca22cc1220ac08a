/*
 * classify_idx.c: classify the images of an idx file with a model exported
 * by `./model export --load CKPT -o DIR`, using nothing but the exported C.
 *
 *   ./model export --load lenet5.ckpt -o out
 *   cc -O2 -std=c99 -Iout -DMODEL_HEADER='"lenet5.h"' \
 *      examples/classify_idx.c out/lenet5.c -o classify
 *   ./classify data/mnist/t10k-images-idx3-ubyte data/mnist/t10k-labels-idx1-ubyte
 *
 * Prints the accuracy when a label file is given; --logits prints every
 * sample's class and logits in the format of the training executable's
 * `predict --per-sample --logits`, so the two can be compared with diff;
 * --time also prints samples per second. Only the model's exported code
 * classifies: this file just reads the idx format (big-endian header:
 * magic 0x0803 or 0x0804, the dimensions, then unsigned bytes).
 */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NITC_MODEL_ALIASES
#ifndef MODEL_HEADER
#define MODEL_HEADER "model.h"
#endif
#include MODEL_HEADER

#if !NITC_MODEL_PIXELS
#error "this example classifies 8-bit images; the model was trained on CSV features (use nitc_model_classify_q8)"
#endif

/* The whole file, or NULL after a message. */
static unsigned char *slurp(const char *path, long *len) {
  FILE *f = fopen(path, "rb");
  unsigned char *b = NULL;
  if (!f || fseek(f, 0, SEEK_END) != 0 || (*len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
      !(b = malloc((size_t)*len + 1)) || fread(b, 1, (size_t)*len, f) != (size_t)*len) {
    fprintf(stderr, "classify: %s: cannot read\n", path);
    free(b);
    b = NULL;
  }
  if (f) fclose(f);
  return b;
}

static long be32(const unsigned char *p) {
  return (long)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
}

/* The idx header: n items of `size` bytes each from offset *data; -1 if malformed. */
static long idx_items(const char *path, const unsigned char *b, long len, long *size, long *data) {
  if (len < 8 || b[0] || b[1] || b[2] != 8 || b[3] < 1 || b[3] > 4 || len < 4 + 4L * b[3]) {
    fprintf(stderr, "classify: %s: not an idx file of unsigned bytes\n", path);
    return -1;
  }
  long n = be32(b + 4);
  *size = 1;
  for (int d = 1; d < b[3]; d++) *size *= be32(b + 4 + 4 * d);
  *data = 4 + 4L * b[3];
  if (n < 0 || *size < 0 || (*size && n > (len - *data) / *size)) {
    fprintf(stderr, "classify: %s: shorter than its header says\n", path);
    return -1;
  }
  return n;
}

int main(int argc, char **argv) {
  const char *images = NULL, *labels = NULL;
  int show = 0, timing = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--logits")) show = 1;
    else if (!strcmp(argv[i], "--time")) timing = 1;
    else if (!images) images = argv[i];
    else if (!labels) labels = argv[i];
    else {
      fprintf(stderr, "usage: classify IMAGES [LABELS] [--logits] [--time]\n");
      return 1;
    }
  }
  if (!images) {
    fprintf(stderr, "usage: classify IMAGES [LABELS] [--logits] [--time]\n");
    return 1;
  }
  long ilen = 0, llen = 0, size = 0, off = 0, lsize = 0, loff = 0;
  unsigned char *ib = slurp(images, &ilen), *lb = NULL;
  if (!ib) return 1;
  long n = idx_items(images, ib, ilen, &size, &off);
  if (n < 0) return 1;
  if (size != NITC_MODEL_INPUT_SIZE) {
    fprintf(stderr, "classify: %s: images of %ld bytes, model %s expects %d\n", images, size, NITC_MODEL_NAME,
            NITC_MODEL_INPUT_SIZE);
    return 1;
  }
  if (labels) {
    if (!(lb = slurp(labels, &llen)) || idx_items(labels, lb, llen, &lsize, &loff) != n || lsize != 1) {
      fprintf(stderr, "classify: %s: expected %ld one-byte labels\n", labels, n);
      return 1;
    }
  }
  int32_t logits[NITC_MODEL_CLASSES];
  long correct = 0;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long i = 0; i < n; i++) {
    int c = nitc_model_classify(ib + off + i * size, logits);
    if (lb) correct += c == lb[loff + i];
    if (show) {
      printf("sample %ld  class %d  logits", i, c);
      for (int j = 0; j < NITC_MODEL_CLASSES; j++) printf(" %d", (int)logits[j]);
      printf(" (x2^%d)\n", (int)nitc_model_logit_exp());
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  long long ns = (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
  if (lb) /* accuracy in hundredths of a percent, integer arithmetic */
    printf("%s: %ld/%ld correct, accuracy %ld.%02ld%%\n", NITC_MODEL_NAME, correct, n,
           n ? correct * 10000 / n / 100 : 0, n ? correct * 10000 / n % 100 : 0);
  if (timing)
    printf("%s: %ld samples in %lld us, %lld samples/s (flash %d bytes, RAM %d bytes)\n", NITC_MODEL_NAME, n,
           ns / 1000, ns > 0 ? (long long)n * 1000000000LL / ns : 0, NITC_MODEL_FLASH_BYTES, NITC_MODEL_RAM_BYTES);
  free(ib);
  free(lb);
  return 0;
}
