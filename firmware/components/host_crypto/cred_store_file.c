/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * cred_store.h on a POSIX file system (the Linux port's --cert-dir): <dir>/<slot>.key (0600) and
 * <dir>/<slot>.crt. Each file is written to a temporary name, flushed and renamed over the old one, so a
 * reader sees an old or a new file, never half of one; the key is renamed first.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kubelet_abi.h"
#include "cred_store.h"

struct cred_store {
    char *dir;
};

const char *cred_store_slot_name(int32_t slot)
{
    return slot == KUBELET_KEY_SLOT_SERVING ? "serving" : "client";
}

cred_store_t *cred_store_open(const char *location, char *err, size_t err_size)
{
    if (location == NULL || location[0] == '\0') {
        snprintf(err, err_size, "no certificate directory given");
        return NULL;
    }
    if (mkdir(location, 0700) != 0 && errno != EEXIST) {
        snprintf(err, err_size, "cannot create %s: %s", location, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (stat(location, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, err_size, "%s is not a directory", location);
        return NULL;
    }
    cred_store_t *s = calloc(1, sizeof(*s));
    if (s == NULL || (s->dir = strdup(location)) == NULL) {
        free(s);
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    return s;
}

static void path_of(const cred_store_t *s, int32_t slot, const char *ext, const char *suffix, char *out, size_t size)
{
    snprintf(out, size, "%s/%s.%s%s", s->dir, cred_store_slot_name(slot), ext, suffix);
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    size_t cap = 4096;
    size_t len = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) {
            break;
        }
        if (len + 1 == cap) {
            char *bigger = cap < 256 * 1024 ? realloc(buf, cap * 2) : NULL;
            if (bigger == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf != NULL) {
        buf[len] = '\0';
    }
    return buf;
}

bool cred_store_load(cred_store_t *s, int32_t slot, char **key_pem, char **chain_pem)
{
    char path[1024];
    path_of(s, slot, "key", "", path, sizeof(path));
    *key_pem = read_all(path);
    path_of(s, slot, "crt", "", path, sizeof(path));
    *chain_pem = read_all(path);
    if (*key_pem == NULL || *chain_pem == NULL) {
        if (*key_pem != NULL) {
            memset(*key_pem, 0, strlen(*key_pem));
            free(*key_pem);
        }
        free(*chain_pem);
        *key_pem = NULL;
        *chain_pem = NULL;
        return false;
    }
    return true;
}

/* Writes `text` to <path>.tmp with `mode` and renames it to <path>. */
static bool write_file(const char *path, const char *text, mode_t mode, char *err, size_t err_size)
{
    char tmp[1040];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        snprintf(err, err_size, "cannot write %s: %s", tmp, strerror(errno));
        return false;
    }
    /* open() honours the umask; the mode is the point for a private key. */
    bool ok = fchmod(fd, mode) == 0;
    size_t len = strlen(text);
    for (size_t off = 0; ok && off < len;) {
        ssize_t n = write(fd, text + off, len - off);
        if (n <= 0) {
            ok = false;
            break;
        }
        off += (size_t)n;
    }
    ok = ok && fsync(fd) == 0;
    int saved = errno;
    ok = close(fd) == 0 && ok;
    if (ok && rename(tmp, path) != 0) {
        saved = errno;
        ok = false;
    }
    if (!ok) {
        snprintf(err, err_size, "cannot write %s: %s", path, strerror(saved));
        unlink(tmp);
    }
    return ok;
}

bool cred_store_save(cred_store_t *s, int32_t slot, const char *key_pem, const char *chain_pem, char *err,
                     size_t err_size)
{
    char path[1024];
    path_of(s, slot, "key", "", path, sizeof(path));
    if (!write_file(path, key_pem, 0600, err, err_size)) {
        return false;
    }
    path_of(s, slot, "crt", "", path, sizeof(path));
    return write_file(path, chain_pem, 0644, err, err_size);
}

void cred_store_close(cred_store_t *s)
{
    if (s != NULL) {
        free(s->dir);
        free(s);
    }
}
