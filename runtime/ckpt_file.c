/*
 * ckpt_file.c: checkpoint files. The format is ckpt.c; this file puts it on
 * disk so that nothing already there is ever damaged.
 *
 * A save writes <path>.tmpXXXXXX in the same directory, fsyncs it, renames
 * it over <path> and fsyncs the directory; on any failure the temp file is
 * removed and <path> is untouched. A save killed outright (SIGKILL, power
 * loss) cannot remove its temp file, so every writer holds an exclusive
 * flock on its temp file while writing, and the next save first removes
 * the temp files of <path> whose lock it can take: their writers are dead
 * (the kernel drops a process's locks when it dies). A live writer's file
 * is never touched. The writer takes its lock right after creating the
 * file and then checks the file is still linked, so a cleaner that got in
 * between costs a retry, never a lost save.
 */
#define _DEFAULT_SOURCE /* flock */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nitrt.h"

#define TMP_SUFFIX ".tmpXXXXXX"

/* "dir" of "dir/name" ("." without a slash, "/" for "/name"). */
static char *dir_of(const char *path) {
  const char *s = strrchr(path, '/');
  size_t n = s ? (size_t)(s - path) : 1;
  if (s == path) n = 1;
  char *d = nitrt_alloc(n + 1);
  if (d) memcpy(d, s ? path : ".", n);
  return d;
}

static const char *base_of(const char *path) {
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

/* An existing `path` must be a regular file: renaming over a FIFO or a
 * device node would replace it. */
static int check_target(const char *path) {
  const char *kind = nitrt_nonregular(path);
  if (kind) {
    nitrt_error("%s: cannot save a checkpoint there: it is %s", path, kind);
    return -1;
  }
  return 0;
}

int nitrt_ckpt_clean_stale(const char *path) {
  char *dir = dir_of(path);
  if (!dir) return 0;
  const char *base = base_of(path);
  size_t bl = strlen(base), want = bl + strlen(TMP_SUFFIX);
  int removed = 0;
  DIR *d = opendir(dir);
  while (d) {
    struct dirent *e = readdir(d);
    if (!e) break;
    const char *nm = e->d_name;
    if (strlen(nm) != want || strncmp(nm, base, bl) != 0 || strncmp(nm + bl, ".tmp", 4) != 0) continue;
    size_t fl = strlen(dir) + 1 + want + 1;
    char *full = nitrt_alloc(fl);
    if (!full) break;
    snprintf(full, fl, "%s/%s", dir, nm);
    int fd = open(full, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
    struct stat a, b;
    if (fd >= 0 && fstat(fd, &a) == 0 && S_ISREG(a.st_mode) && a.st_uid == geteuid() &&
        flock(fd, LOCK_EX | LOCK_NB) == 0 && stat(full, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino &&
        unlink(full) == 0)
      removed++;
    if (fd >= 0) nitrt_close(fd); /* drops the lock */
    free(full);
  }
  if (d) closedir(d);
  free(dir);
  return removed;
}

int nitrt_check_writable(const char *path) {
  struct stat st;
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
    nitrt_error("%s: cannot save a checkpoint there: it is a directory", path);
    return -1;
  }
  if (check_target(path)) return -1;
  char *dir = dir_of(path);
  if (!dir) return -1;
  int rc = -1;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    nitrt_error("%s: cannot save a checkpoint there: directory %s does not exist", path, dir);
    goto out;
  }
  nitrt_ckpt_clean_stale(path);
  size_t n = strlen(path) + sizeof TMP_SUFFIX;
  char *tmp = nitrt_alloc(n);
  if (!tmp) goto out;
  snprintf(tmp, n, "%s" TMP_SUFFIX, path);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    nitrt_error("%s: cannot save a checkpoint there: %s", path, strerror(errno));
  } else {
    unlink(tmp);
    nitrt_close(fd);
    rc = 0;
  }
  free(tmp);
out:
  free(dir);
  return rc;
}

/* A locked, still linked temp file for `path`: its fd, or -1 (errno set). */
static int make_temp(char *tmp, size_t n, const char *path) {
  for (int tries = 0; tries < 8; tries++) {
    snprintf(tmp, n, "%s" TMP_SUFFIX, path);
    int fd = mkstemp(tmp);
    if (fd < 0) return -1;
    struct stat st;
    if (flock(fd, LOCK_EX) == 0 && fstat(fd, &st) == 0 && st.st_nlink > 0) return fd;
    nitrt_close(fd); /* a cleaner removed it before we held the lock */
  }
  errno = EAGAIN;
  return -1;
}

static int write_all(int fd, const uint8_t *b, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, b, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    b += w;
    n -= (size_t)w;
  }
  return 0;
}

int nitrt_ckpt_save(const char *path, const NitModel *m, const Ckpt *c) {
  size_t size = 0;
  uint8_t *b = nitrt_ckpt_serialize(m, c, &size);
  if (!b) return -1;
  size_t n = strlen(path) + sizeof TMP_SUFFIX;
  char *tmp = nitrt_alloc(n);
  char *dir = dir_of(path);
  int rc = -1, fd = -1;
  if (!tmp || !dir || check_target(path)) goto out;
  nitrt_ckpt_clean_stale(path);
  fd = make_temp(tmp, n, path);
  if (fd < 0) {
    nitrt_error("%s: cannot write checkpoint: %s", path, strerror(errno));
    goto out;
  }
  if (fchmod(fd, 0644) != 0 || write_all(fd, b, size) != 0 || fsync(fd) != 0) {
    nitrt_error("%s: cannot write checkpoint: %s", path, strerror(errno));
    goto fail;
  }
  if (rename(tmp, path) != 0) {
    nitrt_error("%s: cannot write checkpoint: %s", path, strerror(errno));
    goto fail;
  }
  nitrt_close(fd); /* after the rename: the lock covers the whole write */
  fd = -1;
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) { /* best effort: some file systems cannot fsync a directory */
    fsync(dfd);
    nitrt_close(dfd);
  }
  rc = 0;
  goto out;
fail:
  unlink(tmp);
out:
  if (fd >= 0) nitrt_close(fd);
  free(b);
  free(tmp);
  free(dir);
  return rc;
}

int nitrt_ckpt_load(const char *path, const NitModel *m, Ckpt *c, void *params) {
  memset(c, 0, sizeof *c);
  uint8_t *b = NULL;
  size_t len = 0;
  if (nitrt_read_file(path, "a checkpoint", &b, &len)) return -1;
  int rc = nitrt_ckpt_parse(path, b, len, m, c, params);
  free(b);
  return rc;
}
