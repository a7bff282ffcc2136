/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * brain_slot_file.h: the slot as one file. begin truncates it (created 0600: a brain is code the node will
 * run), writes append at the offset the slot checked, reads use pread. The descriptor stays open from
 * begin to the next begin or close, so a chunk costs one write(2) and no open.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "brain_slot_file.h"

struct brain_slot_file {
    brain_backend_t backend;
    char *dir;
    char *path;
    int fd;
};

static int file_begin(void *ctx, char *err, size_t err_size)
{
    brain_slot_file_t *f = ctx;
    if (f->fd >= 0) {
        close(f->fd);
        f->fd = -1;
    }
    if (mkdir(f->dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, err_size, "cannot create %s: %s", f->dir, strerror(errno));
        return -1;
    }
    f->fd = open(f->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (f->fd < 0) {
        snprintf(err, err_size, "cannot write %s: %s", f->path, strerror(errno));
        return -1;
    }
    return 0;
}

static int file_write(void *ctx, size_t offset, const uint8_t *bytes, size_t len, char *err, size_t err_size)
{
    brain_slot_file_t *f = ctx;
    while (len > 0) {
        ssize_t n = f->fd < 0 ? -1 : pwrite(f->fd, bytes, len, (off_t)offset);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            snprintf(err, err_size, "cannot write %s: %s", f->path, f->fd < 0 ? "not open" : strerror(errno));
            return -1;
        }
        bytes += n;
        offset += (size_t)n;
        len -= (size_t)n;
    }
    return 0;
}

static int file_read(void *ctx, size_t offset, uint8_t *out, size_t len, char *err, size_t err_size)
{
    brain_slot_file_t *f = ctx;
    while (len > 0) {
        ssize_t n = f->fd < 0 ? -1 : pread(f->fd, out, len, (off_t)offset);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            snprintf(err, err_size, "cannot read %s: %s", f->path,
                     f->fd < 0 ? "not open" : n == 0 ? "shorter than written" : strerror(errno));
            return -1;
        }
        out += n;
        offset += (size_t)n;
        len -= (size_t)n;
    }
    return 0;
}

brain_slot_file_t *brain_slot_file_open(const char *dir, size_t size, char *err, size_t err_size)
{
    if (dir == NULL || dir[0] == '\0') {
        snprintf(err, err_size, "no state directory given for the brain slot");
        return NULL;
    }
    brain_slot_file_t *f = calloc(1, sizeof(*f));
    size_t plen = strlen(dir) + sizeof("/" BRAIN_SLOT_FILE_NAME);
    if (f == NULL || (f->dir = strdup(dir)) == NULL || (f->path = malloc(plen)) == NULL) {
        if (f != NULL) {
            free(f->dir);
        }
        free(f);
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    snprintf(f->path, plen, "%s/%s", dir, BRAIN_SLOT_FILE_NAME);
    f->fd = -1;
    f->backend = (brain_backend_t){
        .ctx = f, .size = size, .begin = file_begin, .write = file_write, .read = file_read};
    return f;
}

const brain_backend_t *brain_slot_file_backend(const brain_slot_file_t *f)
{
    return &f->backend;
}

const char *brain_slot_file_path(const brain_slot_file_t *f)
{
    return f->path;
}

void brain_slot_file_close(brain_slot_file_t *f)
{
    if (f == NULL) {
        return;
    }
    if (f->fd >= 0) {
        close(f->fd);
    }
    free(f->path);
    free(f->dir);
    free(f);
}
