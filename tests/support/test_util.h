/*
 * test_util.h — small helpers the C tests share: a private temporary
 * directory and its recursive removal. Header-only; test code only.
 */
#ifndef TEST_UTIL_H
#define TEST_UTIL_H

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Makes a fresh directory under $TMPDIR (or /tmp) named PREFIX_XXXXXX and
 * writes its path into dir (cap bytes). Returns false if it failed. */
static inline bool test_tmpdir(char *dir, size_t cap, const char *prefix) {
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, cap, "%s/%s_XXXXXX", tmp && tmp[0] ? tmp : "/tmp", prefix);
    return mkdtemp(dir) != NULL;
}

/* Removes path and everything under it (rm -rf); missing is fine. */
static inline void test_rm_rf(const char *path) {
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return;
    if (!S_ISDIR(sb.st_mode)) {
        unlink(path);
        return;
    }
    DIR *d = opendir(path);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            char sub[4096];
            snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
            test_rm_rf(sub);
        }
        closedir(d);
    }
    rmdir(path);
}

#endif
