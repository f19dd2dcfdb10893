/* tests/oom/shim.c - the allocation wrappers behind tests/oom/shim.h.
 *
 * Every wrapped call takes a number from one atomic counter (seq_cst: runs
 * are only as reproducible as the threads' interleaving, which is why the
 * sweep runs every N rather than trusting one) and fails if its number is
 * the chosen one (once) or at least the chosen one (from). Nothing here
 * allocates: the wrappers may run on any thread, before main and at exit. */
#define _GNU_SOURCE
#include "oom/shim.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t a, size_t n);
int __real_posix_memalign(void **out, size_t a, size_t n);
void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t k, size_t n);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t a, size_t n);
int __wrap_posix_memalign(void **out, size_t a, size_t n);
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);

static int armed;        /* counting */
static int mode_from;    /* 1: fail from fail_at on; 0: only at fail_at */
static uint64_t fail_at; /* 0: never */
static uint64_t counter; /* allocations since oom_arm */
static uint64_t failed;  /* allocations failed */

void oom_arm(void) {
    const char *at = getenv("OOM_FAIL_AT");
    const char *mode = getenv("OOM_MODE");
    fail_at = at != NULL ? strtoull(at, NULL, 10) : 0;
    mode_from = mode != NULL && strcmp(mode, "from") == 0;
    __atomic_store_n(&counter, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&armed, 1, __ATOMIC_SEQ_CST);
}

void oom_disarm(void) {
    __atomic_store_n(&armed, 0, __ATOMIC_SEQ_CST);
}

uint64_t oom_count(void) {
    return __atomic_load_n(&counter, __ATOMIC_SEQ_CST);
}

uint64_t oom_failed(void) {
    return __atomic_load_n(&failed, __ATOMIC_SEQ_CST);
}

/* 1 if this allocation must fail (errno is then ENOMEM). */
static int fail_now(void) {
    if (!__atomic_load_n(&armed, __ATOMIC_SEQ_CST))
        return 0;
    uint64_t k = __atomic_add_fetch(&counter, 1, __ATOMIC_SEQ_CST);
    if (fail_at == 0 || k < fail_at || (!mode_from && k != fail_at))
        return 0;
    __atomic_add_fetch(&failed, 1, __ATOMIC_SEQ_CST);
    errno = ENOMEM;
    return 1;
}

void *__wrap_malloc(size_t n) {
    return fail_now() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t k, size_t n) {
    return fail_now() ? NULL : __real_calloc(k, n);
}

void *__wrap_realloc(void *p, size_t n) {
    return fail_now() ? NULL : __real_realloc(p, n);
}

void *__wrap_aligned_alloc(size_t a, size_t n) {
    return fail_now() ? NULL : __real_aligned_alloc(a, n);
}

int __wrap_posix_memalign(void **out, size_t a, size_t n) {
    return fail_now() ? ENOMEM : __real_posix_memalign(out, a, n);
}

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    if (fd < 0 && fail_now()) /* anonymous maps are allocations; file maps are not */
        return MAP_FAILED;
    return __real_mmap(addr, len, prot, flags, fd, off);
}
