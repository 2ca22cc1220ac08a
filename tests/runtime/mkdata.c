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
 *   mkdata tabular DIR NTRAIN NTEST          (train.csv/test.csv, 6 features, 2 classes)
 *   mkdata patch FILE OFFSET BYTES VALUE     (checkpoint: set a little-endian field,
 *                                             then make the trailing CRC-32 valid)
 *
 * tabular: a typical table on mixed scales. The label is 1 when `ratio`
 * (0.0010 .. 0.0100) is above 0.005, and nothing else carries information:
 * income (20000 .. 120000) and age (18 .. 90) are noise, then a constant
 * column, an all-zero one and one below the 6 decimals CSV keeps. With one
 * exponent for the whole file the ratio column rounds to zero.
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

static void tabular_file(const char *dir, const char *name, uint64_t set, long n) {
  FILE *f = open_w(dir, name);
  fprintf(f, "label,income,ratio,age,const,zero,tiny\n");
  for (long i = 0; i < n; i++) {
    uint64_t k = nit_key(9, set, 3);
    int y = (int)(nit_draw(k, (uint64_t)(4 * i)) % 2);
    long income = 20000 + (long)(nit_draw(k, (uint64_t)(4 * i + 1)) % 100001);
    int age = 18 + (int)(nit_draw(k, (uint64_t)(4 * i + 2)) % 73);
    /* ratio in ten-thousandths: 10 .. 45 for class 0, 55 .. 100 for class 1 */
    int r = (int)(nit_draw(k, (uint64_t)(4 * i + 3)) % 36) + (y ? 55 + (int)(i % 10) : 10);
    fprintf(f, "%d,%ld,0.%04d,%d,5,0,0.0000001\n", y, income, r, age);
  }
  fclose(f);
}

static unsigned crc32(const unsigned char *p, long n) {
  unsigned c = 0xFFFFFFFFu;
  for (long i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++)
      c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return c ^ 0xFFFFFFFFu;
}

static int patch(const char *path, long off, int bytes, long long value) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    return 1;
  }
  static unsigned char b[1 << 24];
  long n = (long)fread(b, 1, sizeof b, f);
  fclose(f);
  if (n < 4 || off < 0 || off + bytes > n - 4) {
    fprintf(stderr, "patch: offset out of range\n");
    return 1;
  }
  for (int i = 0; i < bytes; i++)
    b[off + i] = (unsigned char)((unsigned long long)value >> (8 * i));
  unsigned c = crc32(b, n - 4);
  for (int i = 0; i < 4; i++)
    b[n - 4 + i] = (unsigned char)(c >> (8 * i));
  f = fopen(path, "wb");
  if (!f || fwrite(b, 1, (size_t)n, f) != (size_t)n || fclose(f) != 0) {
    perror(path);
    return 1;
  }
  return 0;
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
  if (argc >= 5 && !strcmp(argv[1], "tabular")) {
    tabular_file(argv[2], "train.csv", 1, atol(argv[3]));
    tabular_file(argv[2], "test.csv", 2, atol(argv[4]));
    return 0;
  }
  if (argc >= 6 && !strcmp(argv[1], "patch"))
    return patch(argv[2], atol(argv[3]), atoi(argv[4]), atoll(argv[5]));
  fprintf(stderr, "usage: mkdata idx|cifar|csv|raw|tabular|patch ...\n");
  return 2;
}
