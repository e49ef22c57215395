/*
 * check.h — the C tests' assertion: CHECK(cond) reports a failed condition with its place and
 * counts it in `failures`; main() returns non-zero when any failed. One per test program.
 */
#ifndef HR_TEST_CHECK_H
#define HR_TEST_CHECK_H

#include <stdio.h>

static int failures;

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                 \
            failures++;                                                                      \
        }                                                                                    \
    } while (0)

#endif
