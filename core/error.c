/* core/error.c - names for the TR_E... codes.
 *
 * The strings are expanded from TR_ERRNO_MAP (include/troupe/error.h), the
 * same list the enum comes from, so every code has exactly one name and a
 * new code cannot be added without its text. */
#include "troupe/error.h"

const char *tr_strerror(int code) {
#define TR__ERRNO_CASE(name, value, text)                                                          \
    case name:                                                                                     \
        return #name ": " text;
    switch (code) {
        TR_ERRNO_MAP(TR__ERRNO_CASE)
    default:
        return "TR_E?: unknown error code";
    }
#undef TR__ERRNO_CASE
}
