/* Helpers shared by the C and C++ test programs: checks that count failures, comparison
 * against reference values, and the fixture reader. Header-only (static functions). */
#ifndef FFI_TESTS_COMMON_H
#define FFI_TESTS_COMMON_H

#include "fusedrnn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_failures = 0;

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);       \
            g_failures++;                                                                  \
        }                                                                                  \
    } while (0)

/* `call` must return exactly `want`. */
#define CHECK_STATUS(call, want)                                                           \
    do {                                                                                   \
        frnn_status got_ = (call);                                                         \
        if (got_ != (want)) {                                                              \
            fprintf(stderr, "%s:%d: %s\n    returned %s, want %s (last error: \"%s\")\n",  \
                    __FILE__, __LINE__, #call, frnn_status_str(got_),                      \
                    frnn_status_str(want), frnn_last_error_message());                     \
            g_failures++;                                                                  \
        }                                                                                  \
    } while (0)

#define CHECK_OK(call) CHECK_STATUS(call, FRNN_STATUS_OK)

/* The last error message on this thread must be exactly `want`. */
#define CHECK_MSG(want)                                                                    \
    do {                                                                                   \
        const char *msg_ = frnn_last_error_message();                                      \
        if (strcmp(msg_, (want)) != 0) {                                                   \
            fprintf(stderr, "%s:%d: last error \"%s\", want \"%s\"\n", __FILE__, __LINE__, \
                    msg_, (want));                                                         \
            g_failures++;                                                                  \
        }                                                                                  \
    } while (0)

static inline void *xmalloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static inline float *alloc_fill(size_t len, float value) {
    float *p = (float *)xmalloc(len * sizeof(float));
    for (size_t k = 0; k < len; k++) p[k] = value;
    return p;
}

/* Every element equal to `value` (bitwise for NaN: any NaN). */
static inline int all_equal(const float *p, size_t len, float value) {
    for (size_t k = 0; k < len; k++) {
        if (isnan(value) ? !isnan(p[k]) : p[k] != value) return 0;
    }
    return 1;
}

/* Largest error of `got` against `want`, each element's error relative to
 * max(|want_i|, 1e-2 * max_j |want_j|) (as the Rust tests measure it). */
static inline double rel_err(const float *got, const double *want, size_t len) {
    double scale = 0.0, worst = 0.0;
    for (size_t k = 0; k < len; k++) scale = fmax(scale, fabs(want[k]));
    double floor_ = fmax(1e-2 * scale, 1e-300);
    for (size_t k = 0; k < len; k++) {
        double g = (double)got[k];
        if (isnan(g) || isnan(want[k])) return INFINITY;
        worst = fmax(worst, fabs(g - want[k]) / fmax(fabs(want[k]), floor_));
    }
    return worst;
}

#define RTOL 1e-4

static inline void check_close_(const char *file, int line, const char *what, const float *got,
                         const double *want, size_t len) {
    double e = rel_err(got, want, len);
    if (!(e <= RTOL)) {
        fprintf(stderr, "%s:%d: %s: relative error %.3g > %.1g\n", file, line, what, e, RTOL);
        g_failures++;
    }
}
#define CHECK_CLOSE(what, got, want, len) check_close_(__FILE__, __LINE__, what, got, want, len)

/* ---- fixture (written by tests/ffi.rs) ---- */

#define FX_MAX_ARRAYS 96
#define FX_MAX_CASES 16

typedef struct {
    char name[32];
    size_t len;
    double *v;
} fx_array;

typedef struct {
    unsigned cell, variant, activation;
    size_t i, h, t, n;
    size_t n_arrays;
    fx_array arrays[FX_MAX_ARRAYS];
} fx_case;

typedef struct {
    size_t n_cases;
    fx_case cases[FX_MAX_CASES];
} fixture;

static inline void fx_fail(const char *why) {
    fprintf(stderr, "fixture: %s\n", why);
    exit(2);
}

static inline fixture *fx_load(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) fx_fail("cannot open");
    fixture *fx = (fixture *)xmalloc(sizeof *fx);
    memset(fx, 0, sizeof *fx);
    char word[32];
    int version = 0;
    if (fscanf(f, "%31s %d", word, &version) != 2 || strcmp(word, "fusedrnn-fixture") != 0 ||
        version != 1)
        fx_fail("bad header");
    for (;;) {
        if (fscanf(f, "%31s", word) != 1) fx_fail("truncated");
        if (strcmp(word, "end") == 0) break;
        if (strcmp(word, "case") != 0 || fx->n_cases == FX_MAX_CASES) fx_fail("expected case");
        fx_case *c = &fx->cases[fx->n_cases++];
        if (fscanf(f, "%u %u %u %zu %zu %zu %zu", &c->cell, &c->variant, &c->activation, &c->i,
                   &c->h, &c->t, &c->n) != 7)
            fx_fail("bad case line");
        for (;;) {
            if (fscanf(f, "%31s", word) != 1) fx_fail("truncated case");
            if (strcmp(word, "endcase") == 0) break;
            if (c->n_arrays == FX_MAX_ARRAYS) fx_fail("too many arrays");
            fx_array *a = &c->arrays[c->n_arrays++];
            strcpy(a->name, word);
            if (fscanf(f, "%zu", &a->len) != 1) fx_fail("bad array length");
            a->v = (double *)xmalloc(a->len * sizeof(double));
            for (size_t k = 0; k < a->len; k++)
                if (fscanf(f, "%lf", &a->v[k]) != 1) fx_fail("bad value");
        }
    }
    fclose(f);
    return fx;
}

static inline void fx_free(fixture *fx) {
    for (size_t c = 0; c < fx->n_cases; c++)
        for (size_t k = 0; k < fx->cases[c].n_arrays; k++) free(fx->cases[c].arrays[k].v);
    free(fx);
}

/* The array `name` of case `c`, which must have `len` elements. */
static const fx_array *fx_get(const fx_case *c, const char *name, size_t len) {
    for (size_t k = 0; k < c->n_arrays; k++) {
        if (strcmp(c->arrays[k].name, name) == 0) {
            if (c->arrays[k].len != len) {
                fprintf(stderr, "fixture: %s has %zu elements, want %zu\n", name,
                        c->arrays[k].len, len);
                exit(2);
            }
            return &c->arrays[k];
        }
    }
    fprintf(stderr, "fixture: no array %s\n", name);
    exit(2);
}

/* A float copy of the array `name` (caller frees). */
static inline float *fx_floats(const fx_case *c, const char *name, size_t len) {
    const fx_array *a = fx_get(c, name, len);
    float *p = (float *)xmalloc(len * sizeof(float));
    for (size_t k = 0; k < len; k++) p[k] = (float)a->v[k];
    return p;
}

/* `got` equals the fixture array `name` (as floats) bit for bit. */
static inline void check_same_(const char *file, int line, const fx_case *c, const char *name,
                               const float *got, size_t len) {
    const fx_array *a = fx_get(c, name, len);
    for (size_t k = 0; k < len; k++) {
        float want = (float)a->v[k];
        if (memcmp(&got[k], &want, sizeof want) != 0) {
            fprintf(stderr, "%s:%d: %s[%zu] = %.9g, want %.9g (of %zu)\n", file, line, name, k,
                    (double)got[k], (double)want, len);
            g_failures++;
            return;
        }
    }
}
#define CHECK_SAME(c, name, got, len) check_same_(__FILE__, __LINE__, c, name, got, len)

#endif
