/* core/text.h - a growable text buffer for the console's replies and the
 * Prometheus exposition (core/console.c, core/prometheus.c). */
#ifndef TR_CORE_TEXT_H
#define TR_CORE_TEXT_H

#include <stddef.h>

typedef struct tr__text {
    char *buf;  /* NUL-terminated once anything was appended */
    size_t len; /* bytes, without the NUL */
    size_t cap;
    size_t max; /* refuse to grow past this (0: no limit) */
    int err;    /* first failure: TR_ENOMEM, or TR_E2BIG past max; sticky */
} tr__text;

/* Append printf-style; on failure set t->err and leave the text as it was. */
void tr__text_printf(tr__text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Make room for extra more bytes (and a NUL) past len; 0 or t->err. */
int tr__text_reserve(tr__text *t, size_t extra);
/* Append n bytes. */
void tr__text_append(tr__text *t, const char *s, size_t n);
/* Append s as a Prometheus label value: \ " and newline escaped. */
void tr__text_label(tr__text *t, const char *s);
/* Free the buffer (t is left empty and reusable). */
void tr__text_free(tr__text *t);

#endif
