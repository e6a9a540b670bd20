/* Bad input to the training helpers of the C ABI (frnn_adam, frnn_dense, frnn_seq2vec):
 * exact statuses and messages (NULL handles and pointers, wrong lengths and counts, zero and
 * overflowing sizes, bad enum and float values, overlapping and misaligned buffers, an
 * optimizer used on other buffers), and nothing written on error: out-parameters, output
 * buffers, weights, gradients, the optimizer's step count. destroy(NULL) is a no-op. */
#include "common.h"

#include <stdint.h>

/* A sentinel handle value that an erroring create must leave alone. */
#define SENTINEL ((void *)(uintptr_t)0x1234)

#define REFUSED(call, status, msg)                                                         \
    do {                                                                                   \
        CHECK_STATUS(call, status);                                                        \
        CHECK_MSG(msg);                                                                    \
    } while (0)

static void fill(float *p, size_t n, float v) {
    for (size_t k = 0; k < n; k++) p[k] = v;
}

/* The message for a length too large at any address. */
static const char *too_long(const char *what) {
    static char msg[128];
    snprintf(msg, sizeof msg, "%s: length %zu overflows a float buffer", what, (size_t)SIZE_MAX);
    return msg;
}

static void adam_errors(void) {
    frnn_adam *a = SENTINEL;
    const char *bad_lr = "lr: must be a finite number >= 0";
    REFUSED(frnn_adam_create(NAN, &a), FRNN_STATUS_INVALID_VALUE, bad_lr);
    REFUSED(frnn_adam_create(-1.0f, &a), FRNN_STATUS_INVALID_VALUE, bad_lr);
    REFUSED(frnn_adam_create(INFINITY, &a), FRNN_STATUS_INVALID_VALUE, bad_lr);
    REFUSED(frnn_adam_create(0.1f, NULL), FRNN_STATUS_NULL_POINTER, "out_adam: NULL pointer");
    CHECK(a == SENTINEL);
    CHECK_OK(frnn_adam_create(0.1f, &a));
    CHECK_MSG("");

    REFUSED(frnn_adam_set_betas(NULL, 0.9f, 0.999f), FRNN_STATUS_NULL_POINTER, "adam: NULL pointer");
    REFUSED(frnn_adam_set_betas(a, 1.0f, 0.999f), FRNN_STATUS_INVALID_VALUE, "beta1: must be in [0, 1)");
    REFUSED(frnn_adam_set_betas(a, 0.9f, -0.5f), FRNN_STATUS_INVALID_VALUE, "beta2: must be in [0, 1)");
    REFUSED(frnn_adam_set_betas(a, 0.9f, NAN), FRNN_STATUS_INVALID_VALUE, "beta2: must be in [0, 1)");
    REFUSED(frnn_adam_set_eps(a, -1e-8f), FRNN_STATUS_INVALID_VALUE, "eps: must be a finite number >= 0");
    REFUSED(frnn_adam_set_eps(a, INFINITY), FRNN_STATUS_INVALID_VALUE, "eps: must be a finite number >= 0");
    REFUSED(frnn_adam_set_eps(NULL, 1e-8f), FRNN_STATUS_NULL_POINTER, "adam: NULL pointer");
    REFUSED(frnn_adam_set_lr(a, NAN), FRNN_STATUS_INVALID_VALUE, bad_lr);
    REFUSED(frnn_adam_set_lr(NULL, 0.5f), FRNN_STATUS_NULL_POINTER, "adam: NULL pointer");
    float lr = 7.0f;
    REFUSED(frnn_adam_get_lr(NULL, &lr), FRNN_STATUS_NULL_POINTER, "adam: NULL pointer");
    CHECK(lr == 7.0f);
    REFUSED(frnn_adam_get_lr(a, NULL), FRNN_STATUS_NULL_POINTER, "out_lr: NULL pointer");
    CHECK_OK(frnn_adam_get_lr(a, &lr));
    CHECK(lr == 0.1f);
    uint64_t steps = 9;
    REFUSED(frnn_adam_get_steps(NULL, &steps), FRNN_STATUS_NULL_POINTER, "adam: NULL pointer");
    CHECK(steps == 9);
    REFUSED(frnn_adam_get_steps(a, NULL), FRNN_STATUS_NULL_POINTER, "out_steps: NULL pointer");
    REFUSED(frnn_adam_reset(NULL), FRNN_STATUS_NULL_POINTER, "adam: NULL pointer");

    /* Steps. */
    float p[8] = {1, 2, 3, 4, 5, 6, 7, 0}, g[8] = {1, -1, 2, -2, 3, -3, 4, 0};
    float keep[8];
    memcpy(keep, p, sizeof p);
#define UNTOUCHED() CHECK(memcmp(p, keep, sizeof p) == 0)
    frnn_buffer pb[2] = {{p, 4}, {p + 4, 3}};
    frnn_const_buffer gb[2] = {{g, 4}, {g + 4, 3}};
    REFUSED(frnn_adam_step(NULL, pb, 2, gb, 2), FRNN_STATUS_NULL_POINTER, "adam: NULL pointer");
    REFUSED(frnn_adam_step(a, NULL, 2, gb, 2), FRNN_STATUS_NULL_POINTER,
            "params: NULL pointer with length 2 (an absent buffer has length 0)");
    REFUSED(frnn_adam_step(a, pb, 2, NULL, 2), FRNN_STATUS_NULL_POINTER,
            "grads: NULL pointer with length 2 (an absent buffer has length 0)");
    REFUSED(frnn_adam_step(a, pb, 2, gb, 1), FRNN_STATUS_LENGTH_MISMATCH,
            "grads (one per params): expected 2 elements, got 1");
    frnn_const_buffer g_short[2] = {{g, 4}, {g + 4, 2}};
    REFUSED(frnn_adam_step(a, pb, 2, g_short, 2), FRNN_STATUS_LENGTH_MISMATCH,
            "grads[1]: expected 3 elements, got 2");
    frnn_buffer p_null[2] = {{p, 4}, {NULL, 3}};
    REFUSED(frnn_adam_step(a, p_null, 2, gb, 2), FRNN_STATUS_NULL_POINTER,
            "params[1]: NULL pointer with length 3 (an absent buffer has length 0)");
    frnn_buffer p_overlap[2] = {{p, 4}, {p + 2, 3}};
    REFUSED(frnn_adam_step(a, p_overlap, 2, gb, 2), FRNN_STATUS_INVALID_VALUE,
            "params[0]: output buffer overlaps params[1]");
    frnn_const_buffer g_on_p[2] = {{p + 3, 4}, {g + 4, 3}};
    REFUSED(frnn_adam_step(a, pb, 2, g_on_p, 2), FRNN_STATUS_INVALID_VALUE,
            "params[0]: output buffer overlaps grads[0]");
    frnn_buffer p_huge[2] = {{p, SIZE_MAX}, {p + 4, 3}};
    frnn_const_buffer g_huge[2] = {{g, SIZE_MAX}, {g + 4, 3}};
    REFUSED(frnn_adam_step(a, p_huge, 2, g_huge, 2), FRNN_STATUS_OVERFLOW, too_long("grads[0]"));
    frnn_buffer p_odd[2] = {{(float *)(void *)((char *)p + 1), 4}, {p + 4, 3}};
    REFUSED(frnn_adam_step(a, p_odd, 2, gb, 2), FRNN_STATUS_INVALID_VALUE,
            "params[0]: pointer not aligned to 4 bytes");
    UNTOUCHED();
    CHECK_OK(frnn_adam_get_steps(a, &steps));
    CHECK(steps == 0);

    /* After a step, other buffers are refused. */
    CHECK_OK(frnn_adam_step(a, pb, 2, gb, 2));
    CHECK(memcmp(p, keep, sizeof p) != 0);
    memcpy(keep, p, sizeof p);
    REFUSED(frnn_adam_step(a, pb, 1, gb, 1), FRNN_STATUS_LENGTH_MISMATCH,
            "params (buffers of the first step): expected 2 elements, got 1");
    frnn_buffer p_other[2] = {{p, 4}, {p + 4, 2}};
    frnn_const_buffer g_other[2] = {{g, 4}, {g + 4, 2}};
    REFUSED(frnn_adam_step(a, p_other, 2, g_other, 2), FRNN_STATUS_LENGTH_MISMATCH,
            "params[1]: expected 3 elements, got 2");
    UNTOUCHED();
    CHECK_OK(frnn_adam_get_steps(a, &steps));
    CHECK(steps == 1);
#undef UNTOUCHED
    frnn_adam_destroy(NULL);
    frnn_adam_destroy(a);
}

#define DI 3
#define DO 2
#define DN 2

static void dense_errors(void) {
    frnn_dense *d = SENTINEL;
    REFUSED(frnn_dense_create(0, DO, 1, &d), FRNN_STATUS_ZERO_SIZE, "inputs must be at least 1");
    REFUSED(frnn_dense_create(DI, 0, 1, &d), FRNN_STATUS_ZERO_SIZE, "outputs must be at least 1");
    REFUSED(frnn_dense_create(SIZE_MAX, 2, 1, &d), FRNN_STATUS_OVERFLOW, "outputs*inputs: size overflows");
    /* Fits in size_t, not in memory. */
    REFUSED(frnn_dense_create((size_t)1 << 31, (size_t)1 << 30, 1, &d), FRNN_STATUS_OVERFLOW,
            "outputs*inputs: size overflows");
    REFUSED(frnn_dense_create_zeros(DI, 0, &d), FRNN_STATUS_ZERO_SIZE, "outputs must be at least 1");
    REFUSED(frnn_dense_create(DI, DO, 1, NULL), FRNN_STATUS_NULL_POINTER, "out_dense: NULL pointer");
    REFUSED(frnn_dense_create_zeros(DI, DO, NULL), FRNN_STATUS_NULL_POINTER, "out_dense: NULL pointer");
    float w[DO * DI] = {1, 2, 3, 4, 5, 6}, b[DO] = {0.5f, -0.5f};
    REFUSED(frnn_dense_create_from_parts(DI, DO, w, 5, b, DO, &d), FRNN_STATUS_LENGTH_MISMATCH,
            "W: expected 6 elements, got 5");
    REFUSED(frnn_dense_create_from_parts(DI, DO, w, 6, b, 3, &d), FRNN_STATUS_LENGTH_MISMATCH,
            "b: expected 2 elements, got 3");
    REFUSED(frnn_dense_create_from_parts(DI, DO, NULL, 6, b, DO, &d), FRNN_STATUS_NULL_POINTER,
            "W: NULL pointer");
    REFUSED(frnn_dense_create_from_parts(0, DO, w, 6, b, DO, &d), FRNN_STATUS_ZERO_SIZE,
            "inputs must be at least 1");
    CHECK(d == SENTINEL);
    CHECK_OK(frnn_dense_create_from_parts(DI, DO, w, DO * DI, b, DO, &d));

    size_t si = 42, so = 42;
    REFUSED(frnn_dense_get_sizes(NULL, &si, &so), FRNN_STATUS_NULL_POINTER, "dense: NULL pointer");
    REFUSED(frnn_dense_get_sizes(d, &si, NULL), FRNN_STATUS_NULL_POINTER, "out_outputs: NULL pointer");
    CHECK(si == 42 && so == 42);

    /* Forward. */
    float x[DN * DI] = {1, 0, -1, 0.5f, 0.25f, 2}, y[DN * DO], dy[DN * DO] = {1, -1, 0.5f, 2};
    fill(y, DN * DO, 42.0f);
    REFUSED(frnn_dense_forward(NULL, DN, x, 6, y, 4), FRNN_STATUS_NULL_POINTER, "dense: NULL pointer");
    REFUSED(frnn_dense_forward(d, 0, x, 6, y, 4), FRNN_STATUS_ZERO_SIZE, "N must be at least 1");
    REFUSED(frnn_dense_forward(d, SIZE_MAX, x, 6, y, 4), FRNN_STATUS_OVERFLOW, "N*inputs: size overflows");
    REFUSED(frnn_dense_forward(d, DN, x, 5, y, 4), FRNN_STATUS_LENGTH_MISMATCH, "x: expected 6 elements, got 5");
    REFUSED(frnn_dense_forward(d, DN, x, 6, y, 3), FRNN_STATUS_LENGTH_MISMATCH, "y: expected 4 elements, got 3");
    REFUSED(frnn_dense_forward(d, DN, NULL, 6, y, 4), FRNN_STATUS_NULL_POINTER, "x: NULL pointer");
    REFUSED(frnn_dense_forward(d, DN, x, 6, NULL, 0), FRNN_STATUS_NULL_POINTER, "y: NULL pointer");
    REFUSED(frnn_dense_forward(d, DN, x, SIZE_MAX, y, 4), FRNN_STATUS_OVERFLOW, too_long("x"));
    REFUSED(frnn_dense_forward(d, DN, x, 6, x + 2, 4), FRNN_STATUS_INVALID_VALUE,
            "y: output buffer overlaps x");
    CHECK(all_equal(y, DN * DO, 42.0f));

    /* Backward. */
    float dx[DN * DI], dw[DO * DI + DO], *db = dw + DO * DI;
    fill(dx, DN * DI, 42.0f);
    fill(dw, DO * DI + DO, 42.0f);
#define BWD(x_len, dy_len, dxp, dx_len, dwp, dw_len, dbp, db_len, mode, batch)               \
    frnn_dense_backward(d, batch, x, x_len, dy, dy_len, dxp, dx_len, dwp, dw_len, dbp, db_len, mode)
    REFUSED(BWD(6, 4, dx, 6, dw, 6, db, 2, 7, DN), FRNN_STATUS_INVALID_VALUE,
            "mode: not a frnn_grad_mode value");
    REFUSED(BWD(6, 4, dx, 5, dw, 6, db, 2, FRNN_GRAD_MODE_OVERWRITE, DN), FRNN_STATUS_LENGTH_MISMATCH,
            "dx: expected 6 elements, got 5");
    REFUSED(BWD(6, 4, NULL, 6, dw, 6, db, 2, FRNN_GRAD_MODE_OVERWRITE, DN), FRNN_STATUS_NULL_POINTER,
            "dx: NULL pointer with length 6 (an absent buffer has length 0)");
    REFUSED(BWD(6, 4, dx, 6, NULL, 6, db, 2, FRNN_GRAD_MODE_ACCUMULATE, DN), FRNN_STATUS_NULL_POINTER,
            "dW: NULL pointer");
    REFUSED(BWD(6, 4, dx, 6, dw, 6, db, 1, FRNN_GRAD_MODE_ACCUMULATE, DN), FRNN_STATUS_LENGTH_MISMATCH,
            "db: expected 2 elements, got 1");
    REFUSED(BWD(6, 3, dx, 6, dw, 6, db, 2, FRNN_GRAD_MODE_ACCUMULATE, DN), FRNN_STATUS_LENGTH_MISMATCH,
            "dy: expected 4 elements, got 3");
    REFUSED(BWD(6, 4, dx, 6, dw, 7, db, 2, FRNN_GRAD_MODE_OVERWRITE, DN), FRNN_STATUS_INVALID_VALUE,
            "dW: output buffer overlaps db");
    REFUSED(BWD(6, 4, dx, 6, dw, 6, db, 2, FRNN_GRAD_MODE_OVERWRITE, 0), FRNN_STATUS_ZERO_SIZE,
            "N must be at least 1");
    REFUSED(BWD(6, 4, dx, 6, dw, 6, db, 2, FRNN_GRAD_MODE_OVERWRITE, SIZE_MAX), FRNN_STATUS_OVERFLOW,
            "N*inputs: size overflows");
    CHECK(all_equal(dx, DN * DI, 42.0f) && all_equal(dw, DO * DI + DO, 42.0f));
    CHECK_OK(BWD(6, 4, dx, 6, dw, 6, db, 2, FRNN_GRAD_MODE_OVERWRITE, DN));
    CHECK(!all_equal(dx, DN * DI, 42.0f) && !all_equal(dw, DO * DI, 42.0f));
#undef BWD

    /* Weights: nothing written unless both buffers are right; unchanged on error. */
    float gw[DO * DI], gb[DO], w2[DO * DI] = {9, 9, 9, 9, 9, 9}, b2[DO] = {9, 9};
    fill(gw, DO * DI, 42.0f);
    fill(gb, DO, 42.0f);
    REFUSED(frnn_dense_get_weights(d, gw, 6, gb, 1), FRNN_STATUS_LENGTH_MISMATCH, "b: expected 2 elements, got 1");
    REFUSED(frnn_dense_get_weights(d, gw, 5, NULL, 0), FRNN_STATUS_LENGTH_MISMATCH, "W: expected 6 elements, got 5");
    REFUSED(frnn_dense_get_weights(NULL, gw, 6, gb, 2), FRNN_STATUS_NULL_POINTER, "dense: NULL pointer");
    CHECK(all_equal(gw, DO * DI, 42.0f) && all_equal(gb, DO, 42.0f));
    REFUSED(frnn_dense_set_weights(d, w2, 6, b2, 1), FRNN_STATUS_LENGTH_MISMATCH, "b: expected 2 elements, got 1");
    REFUSED(frnn_dense_set_weights(d, w2, 6, NULL, 0), FRNN_STATUS_NULL_POINTER, "b: NULL pointer");
    REFUSED(frnn_dense_set_weights(NULL, w2, 6, b2, 2), FRNN_STATUS_NULL_POINTER, "dense: NULL pointer");
    CHECK_OK(frnn_dense_get_weights(d, gw, 6, gb, 2));
    CHECK(memcmp(gw, w, sizeof w) == 0 && memcmp(gb, b, sizeof b) == 0);
    frnn_dense_destroy(NULL);
    frnn_dense_destroy(d);
}

/* The model of the Seq2Vec checks: LSTM, I = 2, H = {4, 3}, 2 outputs; T = 3, N = 2. */
#define SI 2
#define SO 2
#define ST 3
#define SN 2
#define NX (ST * SN * SI)
#define NY (SN * SO)
#define NG 10

static frnn_layer *uniform_layer(size_t i, size_t h, size_t proj) {
    frnn_layer_desc d = {0};
    d.cell = FRNN_CELL_LSTM;
    d.input_size = i;
    d.hidden_size = h;
    if (proj) CHECK_OK(frnn_layer_desc_set_proj_size(&d, proj));
    frnn_layer *l = NULL;
    CHECK_OK(frnn_layer_create_uniform(&d, 5, &l));
    return l;
}

static void create_errors(void) {
    size_t hid[2] = {4, 3}, hzero[2] = {4, 0}, hbig[1] = {SIZE_MAX};
    /* A head that fits, a layer (4H x I) that does not. */
    size_t hhuge[1] = {(size_t)1 << 58};
    frnn_seq2vec *m = SENTINEL;
    const unsigned L = FRNN_CELL_LSTM;
    REFUSED(frnn_seq2vec_create(9, 0, 0, SI, hid, 2, SO, 1, &m), FRNN_STATUS_INVALID_VALUE,
            "cell: not a frnn_cell value");
    REFUSED(frnn_seq2vec_create(L, 2, 0, SI, hid, 2, SO, 1, &m), FRNN_STATUS_INVALID_VALUE,
            "gru_variant: not a frnn_gru_variant value");
    REFUSED(frnn_seq2vec_create(FRNN_CELL_RNN, 0, 5, SI, hid, 2, SO, 1, &m), FRNN_STATUS_INVALID_VALUE,
            "activation: not a frnn_activation value");
    REFUSED(frnn_seq2vec_create(L, 0, 0, SI, NULL, 2, SO, 1, &m), FRNN_STATUS_NULL_POINTER,
            "hidden: NULL pointer with length 2 (an absent buffer has length 0)");
    REFUSED(frnn_seq2vec_create(L, 0, 0, SI, hid, 0, SO, 1, &m), FRNN_STATUS_ZERO_SIZE,
            "num_layers must be at least 1");
    REFUSED(frnn_seq2vec_create(L, 0, 0, SI, NULL, 0, SO, 1, &m), FRNN_STATUS_ZERO_SIZE,
            "num_layers must be at least 1");
    REFUSED(frnn_seq2vec_create(L, 0, 0, SI, hzero, 2, SO, 1, &m), FRNN_STATUS_ZERO_SIZE,
            "H must be at least 1");
    REFUSED(frnn_seq2vec_create(L, 0, 0, 0, hid, 2, SO, 1, &m), FRNN_STATUS_ZERO_SIZE,
            "I must be at least 1");
    REFUSED(frnn_seq2vec_create(L, 0, 0, SI, hid, 2, 0, 1, &m), FRNN_STATUS_ZERO_SIZE,
            "outputs must be at least 1");
    REFUSED(frnn_seq2vec_create(L, 0, 0, SI, hid, 2, SIZE_MAX, 1, &m), FRNN_STATUS_OVERFLOW,
            "outputs*hidden: size overflows");
    REFUSED(frnn_seq2vec_create(L, 0, 0, SI, hbig, 1, SO, 1, &m), FRNN_STATUS_OVERFLOW,
            "outputs*hidden: size overflows");
    REFUSED(frnn_seq2vec_create(L, 0, 0, SI, hhuge, 1, 1, 1, &m), FRNN_STATUS_OVERFLOW,
            "W_ih: size overflows");
    REFUSED(frnn_seq2vec_create(L, 0, 0, SI, hid, 2, SO, 1, NULL), FRNN_STATUS_NULL_POINTER,
            "out_model: NULL pointer");
    CHECK(m == SENTINEL);

    frnn_layer *l0 = uniform_layer(SI, 4, 0), *l1 = uniform_layer(4, 3, 0);
    frnn_layer *l_bad = uniform_layer(5, 3, 0), *l_proj = uniform_layer(SI, 4, 2);
    frnn_dense *head = NULL, *head_bad = NULL;
    CHECK_OK(frnn_dense_create(3, SO, 1, &head));
    CHECK_OK(frnn_dense_create(4, SO, 1, &head_bad));
    const frnn_layer *ok[2] = {l0, l1}, *with_null[2] = {l0, NULL}, *unchained[2] = {l0, l_bad};
    const frnn_layer *proj[1] = {l_proj};
    REFUSED(frnn_seq2vec_create_from_parts(NULL, 2, head, &m), FRNN_STATUS_NULL_POINTER,
            "layers: NULL pointer with length 2 (an absent buffer has length 0)");
    REFUSED(frnn_seq2vec_create_from_parts(ok, 0, head, &m), FRNN_STATUS_ZERO_SIZE,
            "num_layers must be at least 1");
    REFUSED(frnn_seq2vec_create_from_parts(with_null, 2, head, &m), FRNN_STATUS_NULL_POINTER,
            "layers[1]: NULL pointer");
    REFUSED(frnn_seq2vec_create_from_parts(unchained, 2, head, &m), FRNN_STATUS_INVALID_VALUE,
            "layers: a layer's input size differs from the hidden size of the layer below");
    REFUSED(frnn_seq2vec_create_from_parts(proj, 1, head, &m), FRNN_STATUS_INVALID_VALUE,
            "layers: a layer has an LSTM projection, which frnn_seq2vec does not support");
    REFUSED(frnn_seq2vec_create_from_parts(ok, 2, head_bad, &m), FRNN_STATUS_LENGTH_MISMATCH,
            "head inputs: expected 3 elements, got 4");
    REFUSED(frnn_seq2vec_create_from_parts(ok, 2, NULL, &m), FRNN_STATUS_NULL_POINTER, "head: NULL pointer");
    REFUSED(frnn_seq2vec_create_from_parts(ok, 2, head, NULL), FRNN_STATUS_NULL_POINTER,
            "out_model: NULL pointer");
    CHECK(m == SENTINEL);
    CHECK_OK(frnn_seq2vec_create_from_parts(ok, 2, head, &m));
    frnn_seq2vec_destroy(m);
    frnn_layer *all[] = {l0, l1, l_bad, l_proj};
    for (size_t k = 0; k < 4; k++) frnn_layer_destroy(all[k]);
    frnn_dense_destroy(head);
    frnn_dense_destroy(head_bad);
}

/* The model's predictions on `x` must still be `want`. */
static void same_predictions(const frnn_seq2vec *m, const float *x, const float *want) {
    float out[NY];
    CHECK_OK(frnn_seq2vec_predict(m, ST, SN, x, NX, out, NY));
    CHECK(memcmp(out, want, sizeof out) == 0);
}

static void model_errors(void) {
    size_t hid[2] = {4, 3};
    frnn_seq2vec *m = NULL;
    CHECK_OK(frnn_seq2vec_create(FRNN_CELL_LSTM, 0, 0, SI, hid, 2, SO, 1, &m));
    float x[NX], target[NY], out[NY], pred[NY];
    for (size_t k = 0; k < NX; k++) x[k] = 0.1f * (float)k - 0.5f;
    for (size_t k = 0; k < NY; k++) target[k] = 0.25f * (float)k;
    CHECK_OK(frnn_seq2vec_predict(m, ST, SN, x, NX, pred, NY));

    /* Predict. */
    fill(out, NY, 42.0f);
    REFUSED(frnn_seq2vec_predict(NULL, ST, SN, x, NX, out, NY), FRNN_STATUS_NULL_POINTER, "model: NULL pointer");
    REFUSED(frnn_seq2vec_predict(m, 0, SN, x, NX, out, NY), FRNN_STATUS_ZERO_SIZE, "T must be at least 1");
    REFUSED(frnn_seq2vec_predict(m, ST, 0, x, NX, out, NY), FRNN_STATUS_ZERO_SIZE, "N must be at least 1");
    REFUSED(frnn_seq2vec_predict(m, SIZE_MAX, SN, x, NX, out, NY), FRNN_STATUS_OVERFLOW, "T: size overflows");
    REFUSED(frnn_seq2vec_predict(m, SIZE_MAX / 4, SN, x, NX, out, NY), FRNN_STATUS_OVERFLOW,
            "T*N*width: size overflows");
    REFUSED(frnn_seq2vec_predict(m, ST, SN, x, NX - 1, out, NY), FRNN_STATUS_LENGTH_MISMATCH,
            "x: expected 12 elements, got 11");
    REFUSED(frnn_seq2vec_predict(m, ST, SN, x, NX, out, NY - 1), FRNN_STATUS_LENGTH_MISMATCH,
            "out: expected 4 elements, got 3");
    REFUSED(frnn_seq2vec_predict(m, ST, SN, NULL, NX, out, NY), FRNN_STATUS_NULL_POINTER, "x: NULL pointer");
    REFUSED(frnn_seq2vec_predict(m, ST, SN, x, NX, x + 1, NY), FRNN_STATUS_INVALID_VALUE,
            "out: output buffer overlaps x");
    CHECK(all_equal(out, NY, 42.0f));

    /* Loss and gradients. */
    double loss = 42.0;
    REFUSED(frnn_seq2vec_loss_and_grads(NULL, ST, SN, x, NX, target, NY, &loss), FRNN_STATUS_NULL_POINTER,
            "model: NULL pointer");
    REFUSED(frnn_seq2vec_loss_and_grads(m, ST, SN, x, NX, target, NY - 1, &loss), FRNN_STATUS_LENGTH_MISMATCH,
            "target: expected 4 elements, got 3");
    REFUSED(frnn_seq2vec_loss_and_grads(m, ST, SN, x, NX, target, NY, NULL), FRNN_STATUS_NULL_POINTER,
            "out_loss: NULL pointer");
    REFUSED(frnn_seq2vec_loss_and_grads(m, 0, SN, x, NX, target, NY, &loss), FRNN_STATUS_ZERO_SIZE,
            "T must be at least 1");
    REFUSED(frnn_seq2vec_loss_and_grads(m, ST, SN, x, NX, NULL, NY, &loss), FRNN_STATUS_NULL_POINTER,
            "target: NULL pointer");
    CHECK(loss == 42.0);
    CHECK_OK(frnn_seq2vec_loss_and_grads(m, ST, SN, x, NX, target, NY, &loss));
    CHECK(loss != 42.0 && isfinite(loss));

    /* The gradient list: 4 buffers per layer, then the head's 2. */
    size_t count = 42, len = 42;
    REFUSED(frnn_seq2vec_grad_count(NULL, &count), FRNN_STATUS_NULL_POINTER, "model: NULL pointer");
    REFUSED(frnn_seq2vec_grad_count(m, NULL), FRNN_STATUS_NULL_POINTER, "out_count: NULL pointer");
    CHECK(count == 42);
    CHECK_OK(frnn_seq2vec_grad_count(m, &count));
    CHECK(count == NG);
    REFUSED(frnn_seq2vec_grad_len(m, NG, &len), FRNN_STATUS_INVALID_VALUE,
            "index: not below the number of gradient buffers");
    REFUSED(frnn_seq2vec_grad_len(m, 0, NULL), FRNN_STATUS_NULL_POINTER, "out_len: NULL pointer");
    CHECK(len == 42);
    const size_t want_len[NG] = {32, 64, 16, 16, 48, 36, 12, 12, 6, 2};
    float *g[NG], *snap[NG];
    frnn_buffer gb[NG];
    frnn_const_buffer cb[NG];
    for (size_t k = 0; k < NG; k++) {
        CHECK_OK(frnn_seq2vec_grad_len(m, k, &len));
        CHECK(len == want_len[k]);
        g[k] = alloc_fill(want_len[k], 42.0f);
        snap[k] = alloc_fill(want_len[k], NAN);
        gb[k] = (frnn_buffer){g[k], want_len[k]};
        cb[k] = (frnn_const_buffer){g[k], want_len[k]};
    }
#define GRADS_UNTOUCHED()                                                                  \
    for (size_t k = 0; k < NG; k++) CHECK(all_equal(g[k], want_len[k], 42.0f))
    REFUSED(frnn_seq2vec_get_grads(m, gb, NG - 1), FRNN_STATUS_LENGTH_MISMATCH,
            "grads (one per buffer of the model): expected 10 elements, got 9");
    REFUSED(frnn_seq2vec_get_grads(m, NULL, NG), FRNN_STATUS_NULL_POINTER,
            "grads: NULL pointer with length 10 (an absent buffer has length 0)");
    REFUSED(frnn_seq2vec_get_grads(NULL, gb, NG), FRNN_STATUS_NULL_POINTER, "model: NULL pointer");
    gb[3].len--;
    REFUSED(frnn_seq2vec_get_grads(m, gb, NG), FRNN_STATUS_LENGTH_MISMATCH, "grads[3]: expected 16 elements, got 15");
    gb[3].len++;
    gb[2].data = NULL;
    REFUSED(frnn_seq2vec_get_grads(m, gb, NG), FRNN_STATUS_NULL_POINTER, "grads[2]: NULL pointer");
    gb[2].data = g[2];
    gb[5].data = g[4];
    REFUSED(frnn_seq2vec_get_grads(m, gb, NG), FRNN_STATUS_INVALID_VALUE, "grads[4]: output buffer overlaps grads[5]");
    gb[5].data = g[5];
    GRADS_UNTOUCHED();
    CHECK_OK(frnn_seq2vec_get_grads(m, gb, NG));
    for (size_t k = 0; k < NG; k++) memcpy(snap[k], g[k], want_len[k] * sizeof(float));
    /* set_grads refuses the same mistakes and keeps the gradients. */
    for (size_t k = 0; k < NG; k++) fill(g[k], want_len[k], 7.0f);
    REFUSED(frnn_seq2vec_set_grads(m, cb, NG + 1), FRNN_STATUS_LENGTH_MISMATCH,
            "grads (one per buffer of the model): expected 10 elements, got 11");
    cb[9].len = 3;
    REFUSED(frnn_seq2vec_set_grads(m, cb, NG), FRNN_STATUS_LENGTH_MISMATCH, "grads[9]: expected 2 elements, got 3");
    cb[9].len = 2;
    REFUSED(frnn_seq2vec_set_grads(NULL, cb, NG), FRNN_STATUS_NULL_POINTER, "model: NULL pointer");
    CHECK_OK(frnn_seq2vec_get_grads(m, gb, NG));
    for (size_t k = 0; k < NG; k++) CHECK(memcmp(snap[k], g[k], want_len[k] * sizeof(float)) == 0);
#undef GRADS_UNTOUCHED

    /* Layer weights and head: index, lengths, buffers the layers do not have. */
    frnn_layer_desc d, d_before;
    memset(&d, 0x5a, sizeof d);
    d_before = d;
    REFUSED(frnn_seq2vec_get_layer_desc(m, 2, &d), FRNN_STATUS_INVALID_VALUE, "index: not below the number of layers");
    REFUSED(frnn_seq2vec_get_layer_desc(m, 0, NULL), FRNN_STATUS_NULL_POINTER, "out_desc: NULL pointer");
    REFUSED(frnn_seq2vec_get_layer_desc(NULL, 0, &d), FRNN_STATUS_NULL_POINTER, "model: NULL pointer");
    CHECK(memcmp(&d, &d_before, sizeof d) == 0);
    float *w[4];
    const size_t wl[4] = {32, 64, 16, 16};
    for (int j = 0; j < 4; j++) w[j] = alloc_fill(wl[j], 42.0f);
    float peep[12];
    frnn_weights_mut wm = {{w[0], 31}, {w[1], 64}, {w[2], 16}, {w[3], 16}};
    frnn_extra_weights_mut em = {{NULL, 0}, {peep, 12}, {NULL, 0}};
    REFUSED(frnn_seq2vec_get_layer_weights(m, 0, &wm, NULL), FRNN_STATUS_LENGTH_MISMATCH,
            "W_ih: expected 32 elements, got 31");
    wm.w_ih.len = 32;
    REFUSED(frnn_seq2vec_get_layer_weights(m, 0, &wm, &em), FRNN_STATUS_UNEXPECTED_ARGUMENT,
            "peepholes: not taken by this layer");
    REFUSED(frnn_seq2vec_get_layer_weights(m, 2, &wm, NULL), FRNN_STATUS_INVALID_VALUE,
            "index: not below the number of layers");
    for (int j = 0; j < 4; j++) CHECK(all_equal(w[j], wl[j], 42.0f));
    CHECK_OK(frnn_seq2vec_get_layer_weights(m, 0, &wm, NULL));
    frnn_weights wc = {{w[0], 32}, {w[1], 64}, {w[2], 16}, {w[3], 16}};
    for (int j = 0; j < 4; j++) fill(w[j], wl[j], 0.5f);
    REFUSED(frnn_seq2vec_set_layer_weights(m, 1, &wc, NULL), FRNN_STATUS_LENGTH_MISMATCH,
            "W_ih: expected 48 elements, got 32");
    REFUSED(frnn_seq2vec_set_layer_weights(m, 5, &wc, NULL), FRNN_STATUS_INVALID_VALUE,
            "index: not below the number of layers");
    REFUSED(frnn_seq2vec_set_layer_weights(m, 0, NULL, NULL), FRNN_STATUS_NULL_POINTER, "weights: NULL pointer");
    frnn_extra_weights ec = {{NULL, 0}, {peep, 12}, {NULL, 0}};
    REFUSED(frnn_seq2vec_set_layer_weights(m, 0, &wc, &ec), FRNN_STATUS_UNEXPECTED_ARGUMENT,
            "peepholes: not taken by this layer");
    float hw[6], hb[2];
    fill(hw, 6, 42.0f);
    fill(hb, 2, 42.0f);
    REFUSED(frnn_seq2vec_get_head(m, hw, 5, hb, 2), FRNN_STATUS_LENGTH_MISMATCH, "W: expected 6 elements, got 5");
    CHECK(all_equal(hw, 6, 42.0f) && all_equal(hb, 2, 42.0f));
    REFUSED(frnn_seq2vec_set_head(m, hw, 6, hb, 1), FRNN_STATUS_LENGTH_MISMATCH, "b: expected 2 elements, got 1");
    REFUSED(frnn_seq2vec_set_head(m, hw, 6, NULL, 0), FRNN_STATUS_NULL_POINTER, "b: NULL pointer");
    same_predictions(m, x, pred);

    /* Training steps and updates. */
    frnn_adam *adam = NULL, *used = NULL, *used10 = NULL;
    CHECK_OK(frnn_adam_create(0.01f, &adam));
    CHECK_OK(frnn_adam_create(0.01f, &used));
    CHECK_OK(frnn_adam_create(0.01f, &used10));
    float q[NG], dq[NG] = {0};
    fill(q, NG, 1.0f);
    frnn_buffer qb[NG];
    frnn_const_buffer dqb[NG];
    for (size_t k = 0; k < NG; k++) {
        qb[k] = (frnn_buffer){q + k, 1};
        dqb[k] = (frnn_const_buffer){dq + k, 1};
    }
    CHECK_OK(frnn_adam_step(used, qb, 1, dqb, 1));
    CHECK_OK(frnn_adam_step(used10, qb, NG, dqb, NG));
    frnn_step_stats st = {42.0, 42.0f};
    const char *bad_norm = "max_norm: must be a finite number > 0, or 0 for no clipping";
#define STEP(model, opt, t, x_len, max_norm, out)                                           \
    frnn_seq2vec_train_step(model, opt, t, SN, x, x_len, target, NY, max_norm, out)
    REFUSED(STEP(m, adam, ST, NX, -1.0f, &st), FRNN_STATUS_INVALID_VALUE, bad_norm);
    REFUSED(STEP(m, adam, ST, NX, NAN, &st), FRNN_STATUS_INVALID_VALUE, bad_norm);
    REFUSED(STEP(m, adam, ST, NX, INFINITY, &st), FRNN_STATUS_INVALID_VALUE, bad_norm);
    REFUSED(STEP(NULL, adam, ST, NX, 1.0f, &st), FRNN_STATUS_NULL_POINTER, "model: NULL pointer");
    REFUSED(STEP(m, NULL, ST, NX, 1.0f, &st), FRNN_STATUS_NULL_POINTER, "adam: NULL pointer");
    REFUSED(STEP(m, adam, ST, NX, 1.0f, NULL), FRNN_STATUS_NULL_POINTER, "out_stats: NULL pointer");
    REFUSED(STEP(m, adam, ST, NX + 1, 1.0f, &st), FRNN_STATUS_LENGTH_MISMATCH, "x: expected 12 elements, got 13");
    REFUSED(STEP(m, adam, 0, NX, 1.0f, &st), FRNN_STATUS_ZERO_SIZE, "T must be at least 1");
    REFUSED(STEP(m, used, ST, NX, 1.0f, &st), FRNN_STATUS_LENGTH_MISMATCH,
            "model buffers (as many as at the adam's first step): expected 1 elements, got 10");
    REFUSED(STEP(m, used10, ST, NX, 0.0f, &st), FRNN_STATUS_LENGTH_MISMATCH,
            "model buffers[0]: expected 1 elements, got 32");
    CHECK(st.loss == 42.0 && st.grad_norm == 42.0f);
    REFUSED(frnn_seq2vec_apply(m, used), FRNN_STATUS_LENGTH_MISMATCH,
            "model buffers (as many as at the adam's first step): expected 1 elements, got 10");
    REFUSED(frnn_seq2vec_apply(NULL, adam), FRNN_STATUS_NULL_POINTER, "model: NULL pointer");
    REFUSED(frnn_seq2vec_apply(m, NULL), FRNN_STATUS_NULL_POINTER, "adam: NULL pointer");
    same_predictions(m, x, pred);
    uint64_t steps = 42;
    CHECK_OK(frnn_adam_get_steps(adam, &steps));
    CHECK(steps == 0);
    CHECK_OK(frnn_adam_get_steps(used, &steps));
    CHECK(steps == 1);
    /* A good step after all that: the weights move. */
    CHECK_OK(STEP(m, adam, ST, NX, 0.0f, &st));
    CHECK(isfinite(st.loss) && isfinite(st.grad_norm) && st.grad_norm > 0);
    CHECK_OK(frnn_seq2vec_predict(m, ST, SN, x, NX, out, NY));
    CHECK(memcmp(out, pred, sizeof out) != 0);
#undef STEP

    for (size_t k = 0; k < NG; k++) {
        free(g[k]);
        free(snap[k]);
    }
    for (int j = 0; j < 4; j++) free(w[j]);
    frnn_adam_destroy(adam);
    frnn_adam_destroy(used);
    frnn_adam_destroy(used10);
    frnn_seq2vec_destroy(NULL);
    frnn_seq2vec_destroy(m);
}

int main(void) {
    adam_errors();
    dense_errors();
    create_errors();
    model_errors();
    if (g_failures) {
        fprintf(stderr, "train_errors: %d failures\n", g_failures);
        return 1;
    }
    printf("train_errors: OK\n");
    return 0;
}
