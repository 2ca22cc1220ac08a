/*
 * mkdata.c: writes small synthetic data sets for the runtime tests, in every
 * format the runtime reads. Sample i has label nit_draw(...) % classes; its
 * feature d is bright (about 200) when d % classes == label, dark (about 30)
 * otherwise, plus noise, so a linear model learns it quickly.
 *
 *   mkdata idx DIR NTRAIN NTEST C H W CLASSES
 *   mkdata cifar DIR PER_FILE NTEST          (5 training batches, 3x32x32, 10 classes)
 *   mkdata csv DIR NTRAIN NTEST NFEAT CLASSES [int|dec]
 *   mkdata raw FILE N DIM
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nitabi.h"

static int label(uint64_t set, long i, int classes) {
  return (int)(nit_draw(nit_key(7, set, 1), (uint64_t)i) % (uint64_t)classes);
}

static int pixel(uint64_t set, long i, long d, int lab, int classes) {
  int base = d % classes == lab ? 150 : 40;
  return base + (int)(nit_draw(nit_key(7, set, 2), (uint64_t)(i * 100003 + d)) % 80);
}

static FILE *open_w(const char *dir, const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f) {
    perror(path);
    exit(1);
  }
  return f;
}

static void be32(FILE *f, unsigned v) {
  fputc((int)(v >> 24) & 255, f);
  fputc((int)(v >> 16) & 255, f);
  fputc((int)(v >> 8) & 255, f);
  fputc((int)v & 255, f);
}

static void idx_set(const char *dir, const char *img, const char *lab, uint64_t set, long n,
                    int c, int h, int w, int classes) {
  FILE *fi = open_w(dir, img), *fl = open_w(dir, lab);
  int nd = c > 1 ? 4 : 3;
  be32(fi, 0x800u + (unsigned)nd);
  be32(fi, (unsigned)n);
  if (nd == 4)
    be32(fi, (unsigned)c);
  be32(fi, (unsigned)h);
  be32(fi, (unsigned)w);
  be32(fl, 0x801);
  be32(fl, (unsigned)n);
  long dim = (long)c * h * w;
  for (long i = 0; i < n; i++) {
    int y = label(set, i, classes);
    fputc(y, fl);
    for (long d = 0; d < dim; d++)
      fputc(pixel(set, i, d, y, classes), fi);
  }
  fclose(fi);
  fclose(fl);
}

static void cifar_file(const char *dir, const char *name, uint64_t set, long n) {
  FILE *f = open_w(dir, name);
  for (long i = 0; i < n; i++) {
    int y = label(set, i, 10);
    fputc(y, f);
    for (long d = 0; d < 3072; d++)
      fputc(pixel(set, i, d, y, 10), f);
  }
  fclose(f);
}

static void csv_file(const char *dir, const char *name, uint64_t set, long n, int nf,
                     int classes, int dec) {
  FILE *f = open_w(dir, name);
  fprintf(f, "label");
  for (int d = 0; d < nf; d++)
    fprintf(f, ",f%d", d);
  fprintf(f, "\n");
  for (long i = 0; i < n; i++) {
    int y = label(set, i, classes);
    fprintf(f, "%d", y);
    for (int d = 0; d < nf; d++) {
      int p = pixel(set, i, d, y, classes);
      if (dec) /* values around -1.2 .. 1.3 with three decimals */
        fprintf(f, ",%s%d.%03d", p < 120 ? "-" : "", abs(p - 120) / 64, abs(p - 120) % 64 * 15);
      else
        fprintf(f, ",%d", p);
    }
    fprintf(f, "\n");
  }
  fclose(f);
}

int main(int argc, char **argv) {
  if (argc >= 9 && !strcmp(argv[1], "idx")) {
    int c = atoi(argv[5]), h = atoi(argv[6]), w = atoi(argv[7]), k = atoi(argv[8]);
    const char *i3 = c > 1 ? "train-images-idx4-ubyte" : "train-images-idx3-ubyte";
    const char *t3 = c > 1 ? "t10k-images-idx4-ubyte" : "t10k-images-idx3-ubyte";
    idx_set(argv[2], i3, "train-labels-idx1-ubyte", 1, atol(argv[3]), c, h, w, k);
    idx_set(argv[2], t3, "t10k-labels-idx1-ubyte", 2, atol(argv[4]), c, h, w, k);
    return 0;
  }
  if (argc >= 5 && !strcmp(argv[1], "cifar")) {
    for (int b = 1; b <= 5; b++) {
      char name[32];
      snprintf(name, sizeof name, "data_batch_%d.bin", b);
      cifar_file(argv[2], name, 10 + (uint64_t)b, atol(argv[3]));
    }
    cifar_file(argv[2], "test_batch.bin", 20, atol(argv[4]));
    return 0;
  }
  if (argc >= 7 && !strcmp(argv[1], "csv")) {
    int dec = argc > 7 && !strcmp(argv[7], "dec");
    csv_file(argv[2], "train.csv", 1, atol(argv[3]), atoi(argv[5]), atoi(argv[6]), dec);
    csv_file(argv[2], "test.csv", 2, atol(argv[4]), atoi(argv[5]), atoi(argv[6]), dec);
    return 0;
  }
  if (argc >= 5 && !strcmp(argv[1], "raw")) {
    FILE *f = fopen(argv[2], "wb");
    if (!f) {
      perror(argv[2]);
      return 1;
    }
    long n = atol(argv[3]), dim = atol(argv[4]);
    for (long i = 0; i < n; i++)
      for (long d = 0; d < dim; d++)
        fputc(pixel(3, i, d, label(3, i, 10), 10), f);
    fclose(f);
    return 0;
  }
  fprintf(stderr, "usage: mkdata idx|cifar|csv|raw ...\n");
  return 2;
}
