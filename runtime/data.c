/*
 * data.c: what every data format shares. The model-facing checks (input
 * shape, label range), choosing the format from the files a directory
 * holds, and the data order of an epoch. The formats themselves live in
 * data_idx.c (idx and raw), data_cifar.c and data_csv.c.
 *
 * Every problem is one error naming the file: missing, truncated, wrong
 * magic, shape or count mismatch, label out of range.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nitrt.h"

void nitrt_data_free(Dataset *d) {
  free(d->x);
  free(d->y);
  memset(d, 0, sizeof *d);
}

int64_t nitrt_model_dim(const NitModel *m) {
  return (int64_t)m->in_c * m->in_h * m->in_w;
}

int nitrt_check_shape(const char *path, int32_t c, int32_t h, int32_t w, const NitModel *m) {
  if (c == m->in_c && h == m->in_h && w == m->in_w)
    return 0;
  nitrt_error("%s: images are %dx%dx%d but the model expects %dx%dx%d", path, c, h, w,
              m->in_c, m->in_h, m->in_w);
  return -1;
}

int nitrt_check_labels(const char *path, const int32_t *y, int64_t n, const NitModel *m) {
  for (int64_t i = 0; i < n; i++)
    if (y[i] < 0 || y[i] >= m->classes) {
      nitrt_error("%s: label %d of sample %lld is out of range: the model has %d classes",
                  path, y[i], (long long)i, m->classes);
      return -1;
    }
  return 0;
}

/* ---------------------------------------------------------- directory */

#define PATH_CAP 4200

/* out = a + sep + b; paths longer than PATH_CAP are cut (and then missing). */
static char *join(char *out, const char *a, const char *sep, const char *b) {
  size_t la = strlen(a), ls = strlen(sep), lb = strlen(b);
  if (la > PATH_CAP - 1)
    la = PATH_CAP - 1;
  if (ls > PATH_CAP - 1 - la)
    ls = PATH_CAP - 1 - la;
  if (lb > PATH_CAP - 1 - la - ls)
    lb = PATH_CAP - 1 - la - ls;
  memcpy(out, a, la);
  memcpy(out + la, sep, ls);
  memcpy(out + la + ls, b, lb);
  out[la + ls + lb] = '\0';
  return out;
}

/* First of `names` that exists in dir, into out; else names[0] and false. */
static bool find_in(const char *dir, const char *const *names, char *out) {
  for (int i = 0; names[i]; i++)
    if (nitrt_exists(join(out, dir, "/", names[i])))
      return true;
  join(out, dir, "/", names[0]);
  return false;
}

static bool gz_exists(const char *path) {
  char gz[PATH_CAP];
  return nitrt_exists(join(gz, path, "", ".gz"));
}

static int need(const char *dir, const char *const *names, char *out) {
  if (find_in(dir, names, out))
    return 0;
  if (gz_exists(out))
    nitrt_error("%s.gz: compressed files are not read directly; gunzip it first "
                "(scripts/fetch-data does)",
                out);
  else
    nitrt_error("%s: missing", out);
  return -1;
}

int nitrt_load_dir(const char *dir, const NitModel *m, int64_t limit, int64_t test_limit,
                   Dataset *train, Dataset *test) {
  static const char *const TRI[] = {"train-images-idx3-ubyte", "train-images-idx4-ubyte",
                                    "train-images.idx3-ubyte", NULL};
  static const char *const TRL[] = {"train-labels-idx1-ubyte", "train-labels.idx1-ubyte", NULL};
  static const char *const TEI[] = {"t10k-images-idx3-ubyte", "t10k-images-idx4-ubyte",
                                    "t10k-images.idx3-ubyte", NULL};
  static const char *const TEL[] = {"t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte", NULL};
  static char a[PATH_CAP], b[PATH_CAP], probe[PATH_CAP], sub[PATH_CAP];
  static char names[5][PATH_CAP];
  struct stat st;
  if (train)
    memset(train, 0, sizeof *train);
  if (test)
    memset(test, 0, sizeof *test);
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    nitrt_error("%s: no such data directory", dir);
    return -1;
  }
  bool idx = find_in(dir, TRI, probe) || gz_exists(probe) || find_in(dir, TEI, probe);
  if (idx) {
    if (train && (need(dir, TRI, a) || need(dir, TRL, b) ||
                  nitrt_load_idx(a, b, m, limit, train)))
      goto fail;
    if (test && (need(dir, TEI, a) || need(dir, TEL, b) ||
                 nitrt_load_idx(a, b, m, test_limit, test)))
      goto fail;
    return 0;
  }
  const char *cdir = NULL;
  join(sub, dir, "/", "cifar-10-batches-bin");
  if (nitrt_exists(join(probe, dir, "/", "data_batch_1.bin")))
    cdir = dir;
  else if (nitrt_exists(join(probe, sub, "/", "data_batch_1.bin")))
    cdir = sub;
  if (cdir) {
    const char *files[5];
    for (int i = 0; i < 5; i++) {
      char nm[32];
      snprintf(nm, sizeof nm, "data_batch_%d.bin", i + 1);
      files[i] = join(names[i], cdir, "/", nm);
    }
    if (train && nitrt_load_cifar(files, 5, m, limit, train))
      goto fail;
    const char *tf[1] = {join(a, cdir, "/", "test_batch.bin")};
    if (test && nitrt_load_cifar(tf, 1, m, test_limit, test))
      goto fail;
    return 0;
  }
  if (nitrt_exists(join(a, dir, "/", "train.csv"))) {
    if (train && nitrt_load_csv(a, m, limit, NULL, train))
      goto fail;
    join(b, dir, "/", "test.csv");
    if (test && !nitrt_exists(b)) {
      nitrt_error("%s: missing", b);
      goto fail;
    }
    /* the test set is quantized like the training set; eval loads only the
       test set, so it reads the training set's exponent first */
    Dataset tmp = {0};
    const Dataset *from = train;
    if (test && !train) {
      if (nitrt_load_csv(a, m, limit, NULL, &tmp))
        goto fail;
      from = &tmp;
    }
    int rc = test ? nitrt_load_csv(b, m, test_limit, from, test) : 0;
    nitrt_data_free(&tmp);
    if (rc)
      goto fail;
    return 0;
  }
  nitrt_error("%s: no data set found: expected train-images-idx3-ubyte (idx), "
              "data_batch_1.bin (CIFAR-10 binary) or train.csv",
              dir);
fail:
  if (train)
    nitrt_data_free(train);
  if (test)
    nitrt_data_free(test);
  return -1;
}

void nitrt_shuffle(uint32_t *perm, int64_t n, uint64_t seed, uint64_t epoch) {
  for (int64_t i = 0; i < n; i++)
    perm[i] = (uint32_t)i;
  uint64_t key = nit_key(seed, epoch, NIT_TID_SHUFFLE);
  for (int64_t i = n - 1; i >= 1; i--) {
    uint64_t j = nit_draw(key, (uint64_t)i) % (uint64_t)(i + 1);
    uint32_t t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
}
