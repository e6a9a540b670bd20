/* Bad input of every kind gets its exact status and message, and leaves every out-parameter
 * and output buffer untouched: NULL pointers, zero and overflowing sizes, wrong lengths,
 * weights that do not match the descriptor, bad enum values, misaligned and overlapping
 * buffers, arguments a cell does not take or needs, workspace misuse, bad thread counts; also
 * version macros, status names, destroy(NULL) and the last-error message's life cycle. */
#include "common.h"

#include <stdint.h>

/* LSTM with I = 3, H = 4 (G*H = 16); calls with T = 2, N = 5. */
enum { I = 3, H = 4, T = 2, N = 5, NX = T * N * I, NY = T * N * H, NH = N * H };
enum { L_IH = 16 * I, L_HH = 16 * H, L_B = 16 };

#define SENTINEL 7.0f
#define BAD_LAYER ((frnn_layer *)(uintptr_t)0x1234)
#define BAD_WS ((frnn_workspace *)(uintptr_t)0x5678)
#define BAD_STREAM ((frnn_stream *)(uintptr_t)0x9abc)

static void fill(float *p, size_t n, float v) {
    for (size_t k = 0; k < n; k++) p[k] = v;
}

/* A pointer one byte past `p`: misaligned for float (made through an integer, as C allows). */
static float *misaligned(float *p) { return (float *)(uintptr_t)((uintptr_t)p + 1); }

static void version_and_names(void) {
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", FUSEDRNN_VERSION_MAJOR, FUSEDRNN_VERSION_MINOR,
             FUSEDRNN_VERSION_PATCH);
    CHECK(strcmp(want, FUSEDRNN_VERSION_STRING) == 0);
    CHECK(strcmp(frnn_version(), FUSEDRNN_VERSION_STRING) == 0);

    CHECK(FRNN_STATUS_OK == 0);
    const frnn_status codes[] = {FRNN_STATUS_ZERO_SIZE,       FRNN_STATUS_OVERFLOW,
                                 FRNN_STATUS_LENGTH_MISMATCH, FRNN_STATUS_UNEXPECTED_ARGUMENT,
                                 FRNN_STATUS_MISSING_ARGUMENT, FRNN_STATUS_WORKSPACE,
                                 FRNN_STATUS_INVALID_VALUE,   FRNN_STATUS_NULL_POINTER,
                                 FRNN_STATUS_INTERNAL};
    const char *names[] = {"FRNN_STATUS_ZERO_SIZE",       "FRNN_STATUS_OVERFLOW",
                           "FRNN_STATUS_LENGTH_MISMATCH", "FRNN_STATUS_UNEXPECTED_ARGUMENT",
                           "FRNN_STATUS_MISSING_ARGUMENT", "FRNN_STATUS_WORKSPACE",
                           "FRNN_STATUS_INVALID_VALUE",   "FRNN_STATUS_NULL_POINTER",
                           "FRNN_STATUS_INTERNAL"};
    for (unsigned k = 0; k < 9; k++) {
        CHECK(codes[k] == 0x46520001u + k);
        CHECK(strcmp(frnn_status_str(codes[k]), names[k]) == 0);
    }
    CHECK(strcmp(frnn_status_str(FRNN_STATUS_OK), "FRNN_STATUS_OK") == 0);
    CHECK(strcmp(frnn_status_str(12345), "FRNN_STATUS_UNKNOWN") == 0);
    CHECK(strcmp(frnn_status_str(0x4652000Au), "FRNN_STATUS_UNKNOWN") == 0);
}

static void descriptors(void) {
    frnn_layer_desc d;
    memset(&d, 0, sizeof d);
    d.cell = FRNN_CELL_LSTM;
    d.input_size = I;
    d.hidden_size = H;
    size_t a = 11, b = 22, c = 33;
    frnn_layer *layer = BAD_LAYER;

    CHECK_STATUS(frnn_desc_weight_lens(NULL, &a, &b, &c), FRNN_STATUS_NULL_POINTER);
    CHECK_MSG("desc: NULL pointer");
    CHECK_STATUS(frnn_desc_weight_lens(&d, &a, NULL, &c), FRNN_STATUS_NULL_POINTER);
    CHECK_MSG("out_w_hh_len: NULL pointer");
    CHECK(a == 11 && b == 22 && c == 33);

    frnn_layer_desc bad = d;
    bad.cell = 7;
    CHECK_STATUS(frnn_desc_weight_lens(&bad, &a, &b, &c), FRNN_STATUS_INVALID_VALUE);
    CHECK_MSG("desc.cell: not a frnn_cell value");
    CHECK_STATUS(frnn_layer_create_uniform(&bad, 1, &layer), FRNN_STATUS_INVALID_VALUE);
    bad = d;
    bad.gru_variant = 2; /* checked even for an LSTM */
    CHECK_STATUS(frnn_desc_weight_lens(&bad, &a, &b, &c), FRNN_STATUS_INVALID_VALUE);
    CHECK_MSG("desc.gru_variant: not a frnn_gru_variant value");
    bad = d;
    bad.cell = FRNN_CELL_RNN;
    bad.activation = 9;
    CHECK_STATUS(frnn_layer_create_uniform(&bad, 1, &layer), FRNN_STATUS_INVALID_VALUE);
    CHECK_MSG("desc.activation: not a frnn_activation value");
    bad = d;
    bad.input_size = 0;
    CHECK_STATUS(frnn_desc_weight_lens(&bad, &a, &b, &c), FRNN_STATUS_ZERO_SIZE);
    CHECK_MSG("I must be at least 1");
    CHECK_STATUS(frnn_layer_create_uniform(&bad, 1, &layer), FRNN_STATUS_ZERO_SIZE);
    bad = d;
    bad.hidden_size = 0;
    CHECK_STATUS(frnn_layer_create_uniform(&bad, 1, &layer), FRNN_STATUS_ZERO_SIZE);
    CHECK_MSG("H must be at least 1");
    bad = d;
    bad.hidden_size = SIZE_MAX / 2;
    CHECK_STATUS(frnn_desc_weight_lens(&bad, &a, &b, &c), FRNN_STATUS_OVERFLOW);
    CHECK(strstr(frnn_last_error_message(), "overflows") != NULL);
    bad = d;
    bad.input_size = SIZE_MAX;
    CHECK_STATUS(frnn_layer_create_uniform(&bad, 1, &layer), FRNN_STATUS_OVERFLOW);
    CHECK(a == 11 && b == 22 && c == 33);
    CHECK(layer == BAD_LAYER);

    CHECK_OK(frnn_desc_weight_lens(&d, &a, &b, &c));
    CHECK(a == L_IH && b == L_HH && c == L_B);
    CHECK_MSG(""); /* success clears the message */
    CHECK_STATUS(frnn_layer_create_uniform(NULL, 1, &layer), FRNN_STATUS_NULL_POINTER);
    CHECK_STATUS(frnn_layer_create_uniform(&d, 1, NULL), FRNN_STATUS_NULL_POINTER);
    CHECK_MSG("out_layer: NULL pointer");
    CHECK(layer == BAD_LAYER);
}

static void creating_with_weights(void) {
    frnn_layer_desc d;
    memset(&d, 0, sizeof d);
    d.cell = FRNN_CELL_LSTM;
    d.input_size = I;
    d.hidden_size = H;
    float w_ih[L_IH + 1], w_hh[L_HH], b_ih[L_B], b_hh[L_B];
    fill(w_ih, L_IH + 1, 0.1f), fill(w_hh, L_HH, 0.2f), fill(b_ih, L_B, 0.3f), fill(b_hh, L_B, 0.4f);
    frnn_layer *layer = BAD_LAYER;
    char msg[160];

    CHECK_STATUS(frnn_layer_create(&d, NULL, L_IH, w_hh, L_HH, b_ih, L_B, b_hh, L_B, &layer),
                 FRNN_STATUS_NULL_POINTER);
    CHECK_MSG("W_ih: NULL pointer");
    CHECK_STATUS(frnn_layer_create(&d, w_ih, L_IH, w_hh, L_HH, b_ih, L_B, NULL, 0, &layer),
                 FRNN_STATUS_NULL_POINTER);
    CHECK_MSG("b_hh: NULL pointer");
    /* Weights that do not match the descriptor. */
    CHECK_STATUS(frnn_layer_create(&d, w_ih, L_IH, w_hh, L_HH - 1, b_ih, L_B, b_hh, L_B, &layer),
                 FRNN_STATUS_LENGTH_MISMATCH);
    CHECK_MSG("W_hh: expected 64 elements, got 63");
    CHECK_STATUS(frnn_layer_create(&d, w_ih, L_IH + 1, w_hh, L_HH, b_ih, L_B, b_hh, L_B, &layer),
                 FRNN_STATUS_LENGTH_MISMATCH);
    CHECK_MSG("W_ih: expected 48 elements, got 49");
    frnn_layer_desc gru = d;
    gru.cell = FRNN_CELL_GRU;
    CHECK_STATUS(frnn_layer_create(&gru, w_ih, L_IH, w_hh, L_HH, b_ih, L_B, b_hh, L_B, &layer),
                 FRNN_STATUS_LENGTH_MISMATCH);
    CHECK_MSG("W_ih: expected 36 elements, got 48");
    CHECK_STATUS(frnn_layer_create(&d, w_ih, SIZE_MAX, w_hh, L_HH, b_ih, L_B, b_hh, L_B, &layer),
                 FRNN_STATUS_OVERFLOW);
    snprintf(msg, sizeof msg, "W_ih: length %zu overflows a float buffer", (size_t)SIZE_MAX);
    CHECK_MSG(msg);
    CHECK_STATUS(frnn_layer_create(&d, misaligned(w_ih), L_IH, w_hh, L_HH, b_ih, L_B, b_hh, L_B,
                                   &layer),
                 FRNN_STATUS_INVALID_VALUE);
    CHECK_MSG("W_ih: pointer not aligned to 4 bytes");
    CHECK_STATUS(frnn_layer_create(&d, w_ih, L_IH, w_hh, L_HH, b_ih, L_B, b_hh, L_B, NULL),
                 FRNN_STATUS_NULL_POINTER);
    CHECK(layer == BAD_LAYER);

    CHECK_OK(frnn_layer_create(&d, w_ih, L_IH, w_hh, L_HH, b_ih, L_B, b_hh, L_B, &layer));
    CHECK(layer != BAD_LAYER && layer != NULL);

    /* set_weights: refused, the weights stay. */
    float nw[L_HH];
    fill(nw, L_HH, -1.0f);
    CHECK_STATUS(frnn_layer_set_weights(layer, nw, L_IH, nw, L_HH, nw, L_B, nw, L_B + 1),
                 FRNN_STATUS_LENGTH_MISMATCH);
    CHECK_MSG("b_hh: expected 16 elements, got 17");
    CHECK_STATUS(frnn_layer_set_weights(NULL, nw, L_IH, nw, L_HH, nw, L_B, nw, L_B),
                 FRNN_STATUS_NULL_POINTER);
    CHECK_MSG("layer: NULL pointer");
    CHECK_STATUS(frnn_layer_set_weights(layer, nw, L_IH, NULL, L_HH, nw, L_B, nw, L_B),
                 FRNN_STATUS_NULL_POINTER);
    CHECK_MSG("W_hh: NULL pointer");
    CHECK_STATUS(frnn_layer_set_weights(layer, nw, L_IH, nw, L_HH, misaligned(nw), L_B, nw, L_B),
                 FRNN_STATUS_INVALID_VALUE);
    CHECK_MSG("b_ih: pointer not aligned to 4 bytes");

    /* get_weights: one wrong length and nothing is written. */
    float g_ih[L_IH], g_hh[L_HH];
    fill(g_ih, L_IH, SENTINEL), fill(g_hh, L_HH, SENTINEL);
    CHECK_STATUS(frnn_layer_get_weights(layer, g_ih, L_IH, g_hh, L_HH - 2, NULL, 0, NULL, 0),
                 FRNN_STATUS_LENGTH_MISMATCH);
    CHECK_MSG("W_hh: expected 64 elements, got 62");
    CHECK(all_equal(g_ih, L_IH, SENTINEL) && all_equal(g_hh, L_HH, SENTINEL));
    CHECK_STATUS(frnn_layer_get_weights(layer, NULL, L_IH, NULL, 0, NULL, 0, NULL, 0),
                 FRNN_STATUS_NULL_POINTER);
    CHECK_MSG("W_ih: NULL pointer with length 48 (an absent buffer has length 0)");
    CHECK_STATUS(frnn_layer_get_weights(layer, g_ih, L_IH, g_ih, L_IH, NULL, 0, NULL, 0),
                 FRNN_STATUS_INVALID_VALUE);
    CHECK_MSG("W_ih: output buffer overlaps W_hh");
    CHECK(all_equal(g_ih, L_IH, SENTINEL));
    CHECK_OK(frnn_layer_get_weights(layer, g_ih, L_IH, g_hh, L_HH, NULL, 0, NULL, 0));
    CHECK(all_equal(g_ih, L_IH, 0.1f) && all_equal(g_hh, L_HH, 0.2f));

    /* get_desc */
    frnn_layer_desc out;
    memset(&out, 0xab, sizeof out);
    frnn_layer_desc before = out;
    CHECK_STATUS(frnn_layer_get_desc(NULL, &out), FRNN_STATUS_NULL_POINTER);
    CHECK_STATUS(frnn_layer_get_desc(layer, NULL), FRNN_STATUS_NULL_POINTER);
    CHECK_MSG("out_desc: NULL pointer");
    CHECK(memcmp(&out, &before, sizeof out) == 0);

    frnn_layer_destroy(layer);
}

static void forwards(frnn_layer *lstm, frnn_layer *gru) {
    /* One arena so that overlaps can be made: x | y | h0 | h_n | c0 | c_n */
    float arena[NX + NY + 4 * NH];
    float *x = arena, *y = x + NX, *h0 = y + NY, *h_n = h0 + NH, *c0 = h_n + NH, *c_n = c0 + NH;
    fill(x, NX, 0.5f), fill(h0, NH, 0.1f), fill(c0, NH, 0.2f);
    fill(y, NY, SENTINEL), fill(h_n, NH, SENTINEL), fill(c_n, NH, SENTINEL);
    char msg[160];
#define UNTOUCHED() \
    CHECK(all_equal(y, NY, SENTINEL) && all_equal(h_n, NH, SENTINEL) && all_equal(c_n, NH, SENTINEL))

    CHECK_STATUS(frnn_layer_forward(NULL, T, N, x, NX, h0, NH, c0, NH, y, NY, h_n, NH, c_n, NH),
                 FRNN_STATUS_NULL_POINTER);
    CHECK_MSG("layer: NULL pointer");
    CHECK_STATUS(frnn_layer_forward((const frnn_layer *)(uintptr_t)((uintptr_t)lstm + 1), T, N, x,
                                    NX, NULL, 0, NULL, 0, y, NY, NULL, 0, NULL, 0),
                 FRNN_STATUS_INVALID_VALUE);
    CHECK(strstr(frnn_last_error_message(), "layer: pointer not aligned to ") != NULL);
    CHECK_STATUS(frnn_layer_forward(lstm, T, N, NULL, NX, h0, NH, c0, NH, y, NY, h_n, NH, c_n, NH),
                 FRNN_STATUS_NULL_POINTER);
    CHECK_MSG("x: NULL pointer");
    CHECK_STATUS(frnn_layer_forward(lstm, T, N, NULL, 0, h0, NH, c0, NH, y, NY, h_n, NH, c_n, NH),
                 FRNN_STATUS_NULL_POINTER); /* a required buffer, even with length 0 */
    CHECK_STATUS(frnn_layer_forward(lstm, T, N, x, NX, h0, NH, c0, NH, NULL, NY, h_n, NH, c_n, NH),
                 FRNN_STATUS_NULL_POINTER);
    CHECK_MSG("y: NULL pointer");
    CHECK_STATUS(frnn_layer_forward(lstm, T, N, x, NX, NULL, NH, c0, NH, y, NY, h_n, NH, c_n, NH),
                 FRNN_STATUS_NULL_POINTER);
    CHECK_MSG("h0: NULL pointer with length 20 (an absent buffer has length 0)");
    CHECK_STATUS(frnn_layer_forward(lstm, T, N, x, NX, h0, NH, c0, NH, y, NY, h_n, NH, NULL, 1),
                 FRNN_STATUS_NULL_POINTER);
    CHECK_MSG("c_n: NULL pointer with length 1 (an absent buffer has length 0)");
    UNTOUCHED();

    /* Zero and overflowing sizes. */
    CHECK_STATUS(frnn_layer_forward(lstm, 0, N, x, NX, h0, NH, c0, NH, y, NY, h_n, NH, c_n, NH),
                 FRNN_STATUS_ZERO_SIZE);
    CHECK_MSG("T must be at least 1");
    CHECK_STATUS(frnn_layer_forward(lstm, T, 0, x, NX, h0, NH, c0, NH, y, NY, h_n, NH, c_n, NH),
                 FRNN_STATUS_ZERO_SIZE);
    CHECK_MSG("N must be at least 1");
    /* T*N*I past SIZE_MAX */
    CHECK_STATUS(frnn_layer_forward(lstm, SIZE_MAX / 4, N, x, NX, h0, NH, c0, NH, y, NY, h_n, NH,
                                    c_n, NH),
                 FRNN_STATUS_OVERFLOW);
    CHECK(strstr(frnn_last_error_message(), "overflows") != NULL);
    CHECK_STATUS(frnn_layer_forward(lstm, SIZE_MAX, 1, x, NX, NULL, 0, NULL, 0, y, NY, NULL, 0,
                                    NULL, 0),
                 FRNN_STATUS_OVERFLOW);
    CHECK_STATUS(frnn_layer_forward(lstm, 1, SIZE_MAX / 2, x, NX, NULL, 0, NULL, 0, y, NY, NULL,
                                    0, NULL, 0),
                 FRNN_STATUS_OVERFLOW);
    CHECK_STATUS(frnn_layer_forward(lstm, T, N, x, SIZE_MAX, h0, NH, c0, NH, y, NY, h_n, NH, c_n,
                                    NH),
                 FRNN_STATUS_OVERFLOW);
    snprintf(msg, sizeof msg, "x: length %zu overflows a float buffer", (size_t)SIZE_MAX);
    CHECK_MSG(msg);
    UNTOUCHED();

    /* Wrong lengths. */
    CHECK_STATUS(frnn_layer_forward(lstm, T, N, x, NX - 1, h0, NH, c0, NH, y, NY, h_n, NH, c_n, NH),
                 FRNN_STATUS_LENGTH_MISMATCH);
    CHECK_MSG("x: expected 30 elements, got 29");
    CHECK_STATUS(frnn_layer_forward(lstm, T, N, x, NX, h0, NH, c0, NH, y, NY - 1, h_n, NH, c_n, NH),
                 FRNN_STATUS_LENGTH_MISMATCH);
    CHECK_MSG("y: expected 40 elements, got 39");
    CHECK_STATUS(frnn_layer_forward(lstm, T, N, x, NX, h0, NH - 1, c0, NH, y, NY, h_n, NH, c_n, NH),
                 FRNN_STATUS_LENGTH_MISMATCH);
    CHECK_MSG("h0: expected 20 elements, got 19");
    CHECK_STATUS(frnn_layer_forward(lstm, T, N, x, NX, h0, NH, c0, 0, y, NY, h_n, NH, c_n, NH),
                 FRNN_STATUS_LENGTH_MISMATCH); /* non-NULL with length 0 is a buffer too */
    CHECK_MSG("c0: expected 20 elements, got 0");
    UNTOUCHED();

    /* Misaligned and overlapping buffers. */
    CHECK_STATUS(frnn_layer_forward(lstm, T, N, x, NX, h0, NH, c0, NH, misaligned(y), NY, h_n, NH,
                                    c_n, NH),
                 FRNN_STATUS_INVALID_VALUE);
    CHECK_MSG("y: pointer not aligned to 4 bytes");
    CHECK_STATUS(frnn_layer_forward(lstm, T, N, x, NX, h0, NH, c0, NH, x + 1, NY, h_n, NH, c_n, NH),
                 FRNN_STATUS_INVALID_VALUE);
    CHECK_MSG("y: output buffer overlaps x");
    CHECK_STATUS(frnn_layer_forward(lstm, T, N, x, NX, h0, NH, c0, NH, y, NY, h0, NH, c_n, NH),
                 FRNN_STATUS_INVALID_VALUE); /* in place: h_n over h0 */
    CHECK_MSG("h_n: output buffer overlaps h0");
    CHECK_STATUS(frnn_layer_forward(lstm, T, N, x, NX, h0, NH, c0, NH, y, NY, h_n, NH, h_n + 3, NH),
                 FRNN_STATUS_INVALID_VALUE);
    CHECK_MSG("h_n: output buffer overlaps c_n");
    UNTOUCHED();

    /* Cell states for a GRU (H = 4 too). */
    CHECK_STATUS(frnn_layer_forward(gru, T, N, x, NX, h0, NH, c0, NH, y, NY, h_n, NH, NULL, 0),
                 FRNN_STATUS_UNEXPECTED_ARGUMENT);
    CHECK_MSG("c0: not taken by this layer");
    CHECK_STATUS(frnn_layer_forward(gru, T, N, x, NX, h0, NH, NULL, 0, y, NY, h_n, NH, c_n, NH),
                 FRNN_STATUS_UNEXPECTED_ARGUMENT);
    CHECK_MSG("c_n: not taken by this layer");
    UNTOUCHED();

    /* And then it works, and the message is cleared. */
    CHECK_OK(frnn_layer_forward(lstm, T, N, x, NX, h0, NH, c0, NH, y, NY, h_n, NH, c_n, NH));
    CHECK_MSG("");
    CHECK(!all_equal(y, NY, SENTINEL));

    /* The kept inference scratch: released, the next call allocates it again, same result. */
    float y_kept[NY];
    memcpy(y_kept, y, sizeof y_kept);
    CHECK_STATUS(frnn_layer_release_scratch(NULL), FRNN_STATUS_NULL_POINTER);
    CHECK_OK(frnn_layer_release_scratch(lstm));
    fill(y, NY, SENTINEL);
    CHECK_OK(frnn_layer_forward(lstm, T, N, x, NX, h0, NH, c0, NH, y, NY, h_n, NH, c_n, NH));
    CHECK(memcmp(y, y_kept, sizeof y_kept) == 0);
#undef UNTOUCHED
}

static void workspaces(frnn_layer *lstm, frnn_layer *lstm_b, frnn_layer *gru) {
    float x[NX], y[NY], dy[NY], dx[NX], dh0[NH], dc0[NH], dh_n[NH], dc_n[NH];
    float g[4][L_HH];
    const size_t gl[4] = {L_IH, L_HH, L_B, L_B};
    fill(x, NX, 0.5f), fill(dy, NY, 0.25f), fill(dh_n, NH, 0.1f), fill(dc_n, NH, 0.1f);
    fill(dx, NX, SENTINEL), fill(dh0, NH, SENTINEL), fill(dc0, NH, SENTINEL);
    for (int k = 0; k < 4; k++) fill(g[k], L_HH, SENTINEL);
#define GRADS g[0], gl[0], g[1], gl[1], g[2], gl[2], g[3], gl[3]
#define UNTOUCHED()                                                                               \
    do {                                                                                          \
        CHECK(all_equal(dx, NX, SENTINEL) && all_equal(dh0, NH, SENTINEL) &&                      \
              all_equal(dc0, NH, SENTINEL));                                                      \
        for (int k_ = 0; k_ < 4; k_++) CHECK(all_equal(g[k_], L_HH, SENTINEL));                   \
    } while (0)

    frnn_workspace *ws = BAD_WS;
    size_t elems = 99;
    CHECK_STATUS(frnn_workspace_create(NULL), FRNN_STATUS_NULL_POINTER);
    CHECK_MSG("out_workspace: NULL pointer");
    CHECK_STATUS(frnn_workspace_create_for(NULL, T, N, &ws), FRNN_STATUS_NULL_POINTER);
    CHECK_STATUS(frnn_workspace_create_for(lstm, 0, N, &ws), FRNN_STATUS_ZERO_SIZE);
    CHECK_STATUS(frnn_workspace_create_for(lstm, SIZE_MAX / 8, 16, &ws), FRNN_STATUS_OVERFLOW);
    CHECK(ws == BAD_WS);
    CHECK_STATUS(frnn_layer_workspace_size(lstm, T, 0, &elems), FRNN_STATUS_ZERO_SIZE);
    CHECK_STATUS(frnn_layer_workspace_size(lstm, SIZE_MAX / 2, N, &elems), FRNN_STATUS_OVERFLOW);
    CHECK_STATUS(frnn_layer_workspace_size(NULL, T, N, &elems), FRNN_STATUS_NULL_POINTER);
    CHECK_STATUS(frnn_layer_workspace_size(lstm, T, N, NULL), FRNN_STATUS_NULL_POINTER);
    CHECK_MSG("out_elems: NULL pointer");
    size_t words[2] = {0, 0};
    CHECK_STATUS(frnn_layer_workspace_size(lstm, T, N,
                                           (size_t *)(uintptr_t)((uintptr_t)words + 1)),
                 FRNN_STATUS_INVALID_VALUE);
    CHECK(strstr(frnn_last_error_message(), "out_elems: pointer not aligned to ") != NULL);
    CHECK(elems == 99 && words[0] == 0 && words[1] == 0);

    CHECK_OK(frnn_workspace_create(&ws));
    CHECK_STATUS(frnn_workspace_size(NULL, &elems), FRNN_STATUS_NULL_POINTER);
    CHECK_MSG("workspace: NULL pointer");
    CHECK_STATUS(frnn_workspace_size(ws, NULL), FRNN_STATUS_NULL_POINTER);

    /* A workspace used before forward_train. */
    CHECK_STATUS(frnn_layer_backward_data(lstm, ws, dy, NY, NULL, 0, NULL, 0, dx, NX, dh0, NH, dc0,
                                          NH),
                 FRNN_STATUS_WORKSPACE);
    CHECK_MSG("training workspace: not filled by forward_train");
    CHECK_STATUS(frnn_layer_backward_weights(lstm, ws, x, NX, GRADS, FRNN_GRAD_MODE_OVERWRITE),
                 FRNN_STATUS_WORKSPACE);
    CHECK_STATUS(frnn_layer_backward(lstm, ws, x, NX, dy, NY, NULL, 0, NULL, 0, dx, NX, NULL, 0,
                                     NULL, 0, GRADS, FRNN_GRAD_MODE_OVERWRITE),
                 FRNN_STATUS_WORKSPACE);
    UNTOUCHED();

    CHECK_STATUS(frnn_layer_forward_train(lstm, NULL, T, N, x, NX, NULL, 0, NULL, 0, y, NY, NULL,
                                          0, NULL, 0),
                 FRNN_STATUS_NULL_POINTER);
    CHECK_MSG("workspace: NULL pointer");
    CHECK_STATUS(frnn_layer_forward_train(lstm, ws, T, N, x, NX - 3, NULL, 0, NULL, 0, y, NY, NULL,
                                          0, NULL, 0),
                 FRNN_STATUS_LENGTH_MISMATCH);
    CHECK_MSG("x: expected 30 elements, got 27");
    CHECK_OK(frnn_layer_forward_train(lstm, ws, T, N, x, NX, NULL, 0, NULL, 0, y, NY, NULL, 0, NULL,
                                      0));

    /* backward-weights before backward-data */
    CHECK_STATUS(frnn_layer_backward_weights(lstm, ws, x, NX, GRADS, FRNN_GRAD_MODE_ACCUMULATE),
                 FRNN_STATUS_WORKSPACE);
    CHECK_MSG("training workspace: backward_data has not run since forward_train");
    /* another layer (same descriptor) */
    CHECK_STATUS(frnn_layer_backward_data(lstm_b, ws, dy, NY, NULL, 0, NULL, 0, dx, NX, NULL, 0,
                                          NULL, 0),
                 FRNN_STATUS_WORKSPACE);
    CHECK_MSG("training workspace: filled by another layer");
    /* backward-data argument errors */
    CHECK_STATUS(frnn_layer_backward_data(lstm, ws, dy, NY + 1, NULL, 0, NULL, 0, dx, NX, NULL, 0,
                                          NULL, 0),
                 FRNN_STATUS_LENGTH_MISMATCH);
    CHECK_MSG("dy: expected 40 elements, got 41");
    CHECK_STATUS(frnn_layer_backward_data(lstm, ws, NULL, NY, NULL, 0, NULL, 0, dx, NX, NULL, 0,
                                          NULL, 0),
                 FRNN_STATUS_NULL_POINTER);
    CHECK_MSG("dy: NULL pointer");
    CHECK_STATUS(frnn_layer_backward_data(lstm, ws, dy, NY, NULL, NH, NULL, 0, dx, NX, NULL, 0,
                                          NULL, 0),
                 FRNN_STATUS_NULL_POINTER);
    CHECK_STATUS(frnn_layer_backward_data(lstm, ws, dy, NY, dh_n, NH, dc_n, NH, dx, NX - 1, dh0, NH,
                                          dc0, NH),
                 FRNN_STATUS_LENGTH_MISMATCH);
    CHECK_MSG("dx: expected 30 elements, got 29");
    CHECK_STATUS(frnn_layer_backward_data(lstm, ws, dy, NY, dh_n, NH, dc_n, NH, dx, NX, dh0, NH,
                                          dh0, NH),
                 FRNN_STATUS_INVALID_VALUE);
    CHECK_MSG("dh0: output buffer overlaps dc0");
    CHECK_STATUS(frnn_layer_backward_data(gru, ws, dy, NY, NULL, 0, NULL, 0, dx, NX, NULL, 0, NULL,
                                          0),
                 FRNN_STATUS_WORKSPACE);
    UNTOUCHED();

    CHECK_OK(frnn_layer_backward_data(lstm, ws, dy, NY, dh_n, NH, dc_n, NH, NULL, 0, NULL, 0, NULL,
                                      0));
    /* backward-weights argument errors */
    CHECK_STATUS(frnn_layer_backward_weights(lstm, ws, x, NX, GRADS, 2), FRNN_STATUS_INVALID_VALUE);
    CHECK_MSG("mode: not a frnn_grad_mode value");
    CHECK_STATUS(frnn_layer_backward_weights(lstm, ws, x, NX, g[0], L_IH, g[1], L_HH - 4, g[2], L_B,
                                             g[3], L_B, FRNN_GRAD_MODE_ACCUMULATE),
                 FRNN_STATUS_LENGTH_MISMATCH);
    CHECK_MSG("dW_hh: expected 64 elements, got 60");
    CHECK_STATUS(frnn_layer_backward_weights(lstm, ws, x, NX + 2, GRADS, FRNN_GRAD_MODE_OVERWRITE),
                 FRNN_STATUS_LENGTH_MISMATCH);
    CHECK_MSG("x: expected 30 elements, got 32");
    CHECK_STATUS(frnn_layer_backward_weights(lstm, ws, x, NX, g[0], L_IH, NULL, L_HH, g[2], L_B,
                                             g[3], L_B, FRNN_GRAD_MODE_OVERWRITE),
                 FRNN_STATUS_NULL_POINTER);
    CHECK_MSG("dW_hh: NULL pointer");
    CHECK_STATUS(frnn_layer_backward_weights(lstm, ws, g[2], L_B, g[0], L_IH, g[1], L_HH, g[2], L_B,
                                             g[3], L_B, FRNN_GRAD_MODE_OVERWRITE),
                 FRNN_STATUS_INVALID_VALUE);
    CHECK_MSG("db_ih: output buffer overlaps x");
    /* combined backward: a bad dx leaves the weight gradients alone */
    CHECK_STATUS(frnn_layer_backward(lstm, ws, x, NX, dy, NY, NULL, 0, NULL, 0, dx, NX + 1, dh0, NH,
                                     NULL, 0, GRADS, FRNN_GRAD_MODE_ACCUMULATE),
                 FRNN_STATUS_LENGTH_MISMATCH);
    CHECK_MSG("dx: expected 30 elements, got 31");
    CHECK_STATUS(frnn_layer_backward(lstm, ws, x, NX, dy, NY, NULL, 0, NULL, 0, dx, NX, dh0, NH,
                                     NULL, 0, GRADS, 5),
                 FRNN_STATUS_INVALID_VALUE);
    UNTOUCHED();

    /* The weights change after forward_train: backward refuses. */
    float w[L_HH];
    fill(w, L_HH, 0.01f);
    CHECK_OK(frnn_layer_set_weights(lstm, w, L_IH, w, L_HH, w, L_B, w, L_B));
    CHECK_STATUS(frnn_layer_backward_data(lstm, ws, dy, NY, NULL, 0, NULL, 0, dx, NX, NULL, 0, NULL,
                                          0),
                 FRNN_STATUS_WORKSPACE);
    CHECK_MSG("training workspace: the weights changed since forward_train");
    CHECK_STATUS(frnn_layer_backward_weights(lstm, ws, x, NX, GRADS, FRNN_GRAD_MODE_OVERWRITE),
                 FRNN_STATUS_WORKSPACE);
    UNTOUCHED();

    /* GRU: cell-state gradients are not taken. */
    frnn_workspace *ws_gru = NULL;
    CHECK_OK(frnn_workspace_create_for(gru, T, N, &ws_gru));
    CHECK_OK(frnn_layer_forward_train(gru, ws_gru, T, N, x, NX, NULL, 0, NULL, 0, y, NY, NULL, 0,
                                      NULL, 0));
    CHECK_STATUS(frnn_layer_backward_data(gru, ws_gru, dy, NY, NULL, 0, dc_n, NH, dx, NX, NULL, 0,
                                          NULL, 0),
                 FRNN_STATUS_UNEXPECTED_ARGUMENT);
    CHECK_MSG("dc_n: not taken by this layer");
    CHECK_STATUS(frnn_layer_backward_data(gru, ws_gru, dy, NY, NULL, 0, NULL, 0, dx, NX, NULL, 0,
                                          dc0, NH),
                 FRNN_STATUS_UNEXPECTED_ARGUMENT);
    CHECK_MSG("dc0: not taken by this layer");
    UNTOUCHED();

    frnn_workspace_destroy(ws_gru);
    frnn_workspace_destroy(ws);
#undef GRADS
#undef UNTOUCHED
}

static void streams(frnn_layer *lstm, frnn_layer *gru) {
    float arena[NX + NY], h[NH], c[NH], zero[NH];
    float *x = arena, *y = x + NX;
    fill(x, NX, 0.5f), fill(y, NY, SENTINEL), fill(h, NH, 0.3f), fill(c, NH, 0.4f);
    fill(zero, NH, 0.0f);
    frnn_stream *st = BAD_STREAM;

    CHECK_STATUS(frnn_stream_create(NULL, N, 0, &st), FRNN_STATUS_NULL_POINTER);
    CHECK_MSG("layer: NULL pointer");
    CHECK_STATUS(frnn_stream_create(lstm, 0, 0, &st), FRNN_STATUS_ZERO_SIZE);
    CHECK_MSG("N must be at least 1");
    CHECK_STATUS(frnn_stream_create(lstm, N, SIZE_MAX, &st), FRNN_STATUS_OVERFLOW);
    CHECK_STATUS(frnn_stream_create(lstm, N, 0, NULL), FRNN_STATUS_NULL_POINTER);
    CHECK_MSG("out_stream: NULL pointer");
    CHECK(st == BAD_STREAM);
    CHECK_OK(frnn_stream_create(lstm, N, T, &st));

    /* Refused pushes change neither y nor the state. */
    CHECK_STATUS(frnn_stream_push(NULL, lstm, x, NX, y, NY), FRNN_STATUS_NULL_POINTER);
    CHECK_MSG("stream: NULL pointer");
    CHECK_STATUS(frnn_stream_push(st, NULL, x, NX, y, NY), FRNN_STATUS_NULL_POINTER);
    CHECK_STATUS(frnn_stream_push(st, lstm, x, NX - 1, y, NY), FRNN_STATUS_LENGTH_MISMATCH);
    CHECK_MSG("x: expected 15 elements, got 29"); /* not a whole number of N*I steps */
    CHECK_STATUS(frnn_stream_push(st, lstm, x, 0, y, NY), FRNN_STATUS_LENGTH_MISMATCH);
    CHECK_STATUS(frnn_stream_push(st, lstm, x, NX, y, NY - 1), FRNN_STATUS_LENGTH_MISMATCH);
    CHECK_MSG("y: expected 40 elements, got 39");
    CHECK_STATUS(frnn_stream_push(st, lstm, x, SIZE_MAX, y, NY), FRNN_STATUS_OVERFLOW);
    CHECK_STATUS(frnn_stream_push(st, gru, x, NX, y, NY), FRNN_STATUS_INVALID_VALUE);
    CHECK_MSG("layer: descriptor differs from the stream's");
    CHECK_STATUS(frnn_stream_push(st, lstm, x, NX, x + NX - 1, NY), FRNN_STATUS_INVALID_VALUE);
    CHECK_MSG("y: output buffer overlaps x");
    CHECK(all_equal(y, NY, SENTINEL));

    /* set_state: an LSTM needs c, and a refusal keeps the state. */
    CHECK_STATUS(frnn_stream_set_state(st, h, NH, NULL, 0), FRNN_STATUS_MISSING_ARGUMENT);
    CHECK_MSG("c: required but missing");
    CHECK_STATUS(frnn_stream_set_state(st, h, NH - 1, c, NH), FRNN_STATUS_LENGTH_MISMATCH);
    CHECK_MSG("h: expected 20 elements, got 19");
    CHECK_STATUS(frnn_stream_set_state(st, NULL, 0, c, NH), FRNN_STATUS_NULL_POINTER);
    CHECK_MSG("h: NULL pointer");
    CHECK_STATUS(frnn_stream_set_state(st, misaligned(h), NH, c, NH), FRNN_STATUS_INVALID_VALUE);
    CHECK_MSG("h: pointer not aligned to 4 bytes");
    CHECK_STATUS(frnn_stream_set_state(NULL, h, NH, c, NH), FRNN_STATUS_NULL_POINTER);
    float hs[NH], cs[NH + 1];
    fill(hs, NH, SENTINEL), fill(cs, NH + 1, SENTINEL);
    CHECK_STATUS(frnn_stream_get_state(st, hs, NH, cs, NH + 1), FRNN_STATUS_LENGTH_MISMATCH);
    CHECK_MSG("c: expected 20 elements, got 21");
    CHECK_STATUS(frnn_stream_get_state(st, cs, NH, cs + 1, NH), FRNN_STATUS_INVALID_VALUE);
    CHECK_MSG("h: output buffer overlaps c");
    CHECK_STATUS(frnn_stream_get_state(NULL, hs, NH, cs, NH), FRNN_STATUS_NULL_POINTER);
    CHECK_MSG("stream: NULL pointer");
    CHECK(all_equal(hs, NH, SENTINEL) && all_equal(cs, NH, SENTINEL));
    CHECK_OK(frnn_stream_get_state(st, hs, NH, cs, NH));
    CHECK(memcmp(hs, zero, sizeof zero) == 0 && memcmp(cs, zero, sizeof zero) == 0);
    CHECK_OK(frnn_stream_set_state(st, h, NH, c, NH));
    CHECK_OK(frnn_stream_get_state(st, hs, NH, NULL, 0));
    CHECK(all_equal(hs, NH, 0.3f));
    CHECK_STATUS(frnn_stream_reset(NULL), FRNN_STATUS_NULL_POINTER);
    frnn_stream_destroy(st);

    /* A GRU stream has no cell state. */
    CHECK_OK(frnn_stream_create(gru, N, 0, &st));
    CHECK_STATUS(frnn_stream_set_state(st, h, NH, c, NH), FRNN_STATUS_UNEXPECTED_ARGUMENT);
    CHECK_MSG("c: not taken by this layer");
    CHECK_STATUS(frnn_stream_get_state(st, hs, NH, cs, NH), FRNN_STATUS_UNEXPECTED_ARGUMENT);
    CHECK_MSG("c: not taken by this layer");
    CHECK_OK(frnn_stream_set_state(st, h, NH, NULL, 0));
    CHECK_OK(frnn_stream_push(st, gru, x, NX, y, NY));
    CHECK(!all_equal(y, NY, SENTINEL));
    frnn_stream_destroy(st);
    frnn_stream_destroy(NULL);
}

static void threads_and_destroy(frnn_layer *lstm) {
    size_t n = 77;
    CHECK_STATUS(frnn_set_num_threads(FRNN_MAX_THREADS + 1), FRNN_STATUS_INVALID_VALUE);
    CHECK_MSG("num_threads: more threads than FRNN_MAX_THREADS");
    CHECK_STATUS(frnn_layer_set_num_threads(lstm, SIZE_MAX), FRNN_STATUS_INVALID_VALUE);
    CHECK_STATUS(frnn_layer_set_num_threads(NULL, 2), FRNN_STATUS_NULL_POINTER);
    CHECK_STATUS(frnn_get_num_threads(NULL), FRNN_STATUS_NULL_POINTER);
    CHECK_MSG("out_num_threads: NULL pointer");
    CHECK_STATUS(frnn_layer_get_num_threads(NULL, &n), FRNN_STATUS_NULL_POINTER);
    CHECK_STATUS(frnn_layer_get_num_threads(lstm, NULL), FRNN_STATUS_NULL_POINTER);
    CHECK(n == 77);

    /* destroy(NULL) is a no-op and leaves the last message alone. */
    frnn_layer_destroy(NULL);
    frnn_workspace_destroy(NULL);
    CHECK_MSG("out_num_threads: NULL pointer");
}

int main(void) {
    CHECK_MSG(""); /* before any call */
    version_and_names();
    descriptors();
    creating_with_weights();

    frnn_layer_desc d;
    memset(&d, 0, sizeof d);
    d.cell = FRNN_CELL_LSTM;
    d.input_size = I;
    d.hidden_size = H;
    frnn_layer *lstm = NULL, *lstm_b = NULL, *gru = NULL;
    CHECK_OK(frnn_layer_create_uniform(&d, 1, &lstm));
    CHECK_OK(frnn_layer_create_uniform(&d, 2, &lstm_b));
    d.cell = FRNN_CELL_GRU;
    d.gru_variant = FRNN_GRU_VARIANT_RESET_BEFORE_LINEAR;
    CHECK_OK(frnn_layer_create_uniform(&d, 3, &gru));

    forwards(lstm, gru);
    workspaces(lstm, lstm_b, gru);
    streams(lstm, gru);
    threads_and_destroy(lstm);

    frnn_layer_destroy(gru);
    frnn_layer_destroy(lstm_b);
    frnn_layer_destroy(lstm);
    if (g_failures) {
        fprintf(stderr, "errors: %d failures\n", g_failures);
        return 1;
    }
    printf("errors: OK\n");
    return 0;
}
