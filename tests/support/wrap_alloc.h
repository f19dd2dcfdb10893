/* tests/support/wrap_alloc.h - the allocator wrappers a test links with
 * -Wl,--wrap=malloc,... (CMakeLists.txt): each such test defines the
 * __wrap_ functions with its own failure policy and calls the __real_ ones.
 * Declared here once, for -Wmissing-prototypes. */
#ifndef TROUPE_TESTS_WRAP_ALLOC_H
#define TROUPE_TESTS_WRAP_ALLOC_H

#include <stddef.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t a, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t k, size_t n);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t a, size_t n);
void __wrap_free(void *p);

#endif
