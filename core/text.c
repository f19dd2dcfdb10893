/* core/text.c - a growable text buffer (core/text.h).
 *
 * The console and the Prometheus exposition build their replies here: the
 * buffer doubles as needed, up to an optional cap, and the first failure is
 * kept in `err` so a renderer appends without checking each call and looks
 * once at the end. Not thread-safe: one owner at a time. */
#include "core/text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "troupe/error.h"

int tr__text_reserve(tr__text *t, size_t extra) {
    if (t->err != 0)
        return t->err;
    size_t want = t->len + extra + 1;
    if (t->max != 0 && want > t->max)
        return t->err = TR_E2BIG;
    if (want <= t->cap)
        return 0;
    size_t cap = t->cap ? t->cap : 4096;
    while (cap < want)
        cap *= 2;
    char *b = realloc(t->buf, cap);
    if (b == NULL)
        return t->err = TR_ENOMEM;
    t->buf = b;
    t->cap = cap;
    return 0;
}

void tr__text_append(tr__text *t, const char *s, size_t n) {
    if (tr__text_reserve(t, n) != 0)
        return;
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = '\0';
}

void tr__text_printf(tr__text *t, const char *fmt, ...) {
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        if (t->err == 0)
            t->err = TR_EINVAL;
        return;
    }
    if ((size_t)n < sizeof(small)) {
        tr__text_append(t, small, (size_t)n);
        return;
    }
    if (tr__text_reserve(t, (size_t)n) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(t->buf + t->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

void tr__text_label(tr__text *t, const char *s) {
    if (s == NULL)
        return;
    for (const char *p = s; *p != '\0'; p++) {
        size_t run = strcspn(p, "\\\"\n");
        tr__text_append(t, p, run);
        p += run;
        if (*p == '\0')
            break;
        tr__text_append(t, *p == '\\' ? "\\\\" : *p == '"' ? "\\\"" : "\\n", 2);
    }
}

void tr__text_free(tr__text *t) {
    free(t->buf);
    t->buf = NULL;
    t->len = t->cap = 0;
    t->err = 0;
}
