/* tests/test_error.c - the error codes come from one list.
 *
 * TR_ERRNO_MAP (include/troupe/error.h) is expanded here into a table, the
 * same way the enum and tr_strerror are expanded from it: every listed code
 * has a distinct value and a distinct name, tr_strerror names each one with
 * its own name and text (never the "unknown" string), the values are the
 * released ones, and a value outside the list is "unknown". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "troupe.h"

struct code_entry {
    int code;
    const char *name;
    const char *text;
};

#define ENTRY(name, value, text) {name, #name, text},
static const struct code_entry codes[] = {TR_ERRNO_MAP(ENTRY)};
#undef ENTRY
#define NCODES (sizeof(codes) / sizeof(codes[0]))

static void every_code_has_a_distinct_value_and_name(void **state) {
    (void)state;
    assert_true(NCODES >= 20);
    for (size_t i = 0; i < NCODES; i++) {
        assert_true(strncmp(codes[i].name, "TR_", 3) == 0);
        assert_true(codes[i].text[0] != '\0');
        for (size_t j = 0; j < i; j++) {
            assert_int_not_equal(codes[i].code, codes[j].code);
            assert_string_not_equal(codes[i].name, codes[j].name);
        }
    }
}

static void strerror_names_each_listed_code(void **state) {
    (void)state;
    const char *unknown = tr_strerror(-100000);
    assert_non_null(unknown);
    assert_string_equal(unknown, "TR_E?: unknown error code");
    for (size_t i = 0; i < NCODES; i++) {
        const char *s = tr_strerror(codes[i].code);
        assert_non_null(s);
        assert_string_not_equal(s, unknown);
        /* "TR_EDEAD: actor is dead": the name, a colon, a space, the text. */
        size_t n = strlen(codes[i].name);
        assert_memory_equal(s, codes[i].name, n);
        assert_memory_equal(s + n, ": ", 2);
        assert_string_equal(s + n + 2, codes[i].text);
    }
}

static void codes_are_dense_from_zero_down(void **state) {
    (void)state;
    /* Every value from 0 down to the lowest listed one is listed: no gap,
     * no positive code, and the next value below is unknown. */
    int lowest = 0;
    for (size_t i = 0; i < NCODES; i++) {
        assert_true(codes[i].code <= 0);
        if (codes[i].code < lowest)
            lowest = codes[i].code;
    }
    assert_int_equal((int)NCODES, 1 - lowest);
    assert_string_equal(tr_strerror(lowest - 1), tr_strerror(-100000));
    assert_string_equal(tr_strerror(1), tr_strerror(-100000));
}

static void released_values_are_kept(void **state) {
    (void)state;
    /* Numeric values are part of the ABI: they never change. */
    assert_int_equal(TR_OK, 0);
    assert_int_equal(TR_EINVAL, -1);
    assert_int_equal(TR_ENOMEM, -2);
    assert_int_equal(TR_EDEAD, -3);
    assert_int_equal(TR_EFULL, -4);
    assert_int_equal(TR_ECLOSED, -5);
    assert_int_equal(TR_ETIMEDOUT, -6);
    assert_int_equal(TR_E2BIG, -7);
    assert_int_equal(TR_ENOREPLY, -8);
    assert_int_equal(TR_EBUSY, -9);
    assert_int_equal(TR_EDEADLK, -10);
    assert_int_equal(TR_ESYS, -11);
    assert_int_equal(TR_ESTATE, -12);
    assert_int_equal(TR_ECANCELED, -13);
    assert_int_equal(TR_ECRASHED, -14);
    assert_int_equal(TR_ENOTFOUND, -15);
    assert_int_equal(TR_EIO, -16);
    assert_int_equal(TR_EEXIST, -17);
    assert_int_equal(TR_EALREADY, -18);
    assert_int_equal(TR_ERESTARTING, -19);
    assert_int_equal(TR_EFORKED, -20);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_code_has_a_distinct_value_and_name),
        cmocka_unit_test(strerror_names_each_listed_code),
        cmocka_unit_test(codes_are_dense_from_zero_down),
        cmocka_unit_test(released_values_are_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
