/* Bad input to the stack, weight-file, layout and clipping entry points: the exact status,
 * a message naming the argument, out-parameters untouched, destroy(NULL) harmless.
 *
 * usage: stack_errors DIR   (a scratch directory) */
#include "common.h"

#define SENTINEL ((frnn_stack *)(uintptr_t)0x5e7)

static frnn_stack_desc lstm_desc(void) {
    frnn_stack_desc d;
    memset(&d, 0, sizeof d);
    d.cell = FRNN_CELL_LSTM;
    d.direction = FRNN_DIRECTION_BIDIRECTIONAL;
    d.input_size = 3;
    d.hidden_size = 4;
    d.num_layers = 2;
    return d;
}

/* `msg` contains `part`. */
static void check_msg_has(const char *part) {
    const char *msg = frnn_last_error_message();
    if (!strstr(msg, part)) {
        fprintf(stderr, "last error \"%s\" does not mention \"%s\"\n", msg, part);
        g_failures++;
    }
}

static void descriptors(void) {
    frnn_stack_desc d = lstm_desc();
    size_t k = 77, w = 77;
    CHECK_STATUS(frnn_stack_desc_sizes(NULL, &k, &w), FRNN_STATUS_NULL_POINTER);
    CHECK_STATUS(frnn_stack_desc_sizes(&d, NULL, &w), FRNN_STATUS_NULL_POINTER);
    CHECK(k == 77 && w == 77);
    CHECK_OK(frnn_stack_desc_sizes(&d, &k, &w));
    CHECK(k == 4 && w == 8);

    frnn_stack_desc bad = d;
    bad.num_layers = 0;
    CHECK_STATUS(frnn_stack_desc_sizes(&bad, &k, &w), FRNN_STATUS_ZERO_SIZE);
    bad = d;
    bad.hidden_size = 0;
    CHECK_STATUS(frnn_stack_desc_sizes(&bad, &k, &w), FRNN_STATUS_ZERO_SIZE);
    bad = d;
    bad.hidden_size = SIZE_MAX / 2;
    CHECK_STATUS(frnn_stack_desc_sizes(&bad, &k, &w), FRNN_STATUS_OVERFLOW);
    bad = d;
    bad.direction = 9;
    CHECK_STATUS(frnn_stack_desc_sizes(&bad, &k, &w), FRNN_STATUS_INVALID_VALUE);
    check_msg_has("direction");
    bad = d;
    bad.cell = 7;
    CHECK_STATUS(frnn_stack_desc_sizes(&bad, &k, &w), FRNN_STATUS_INVALID_VALUE);
    check_msg_has("cell");
    bad = d;
    bad.batch_first = 2;
    CHECK_STATUS(frnn_stack_desc_sizes(&bad, &k, &w), FRNN_STATUS_INVALID_VALUE);

    size_t a = 5, b = 5, c = 5;
    CHECK_STATUS(frnn_stack_desc_weight_lens(&d, 4, &a, &b, &c), FRNN_STATUS_INVALID_VALUE);
    CHECK(a == 5 && b == 5 && c == 5);
    CHECK_OK(frnn_stack_desc_weight_lens(&d, 2, &a, &b, &c));
    CHECK(a == 16 * 8 && b == 16 * 4 && c == 16); /* layer 1 reads 2H = 8 features */
}

static void stacks_and_calls(void) {
    frnn_stack_desc d = lstm_desc();
    frnn_stack *s = SENTINEL;
    CHECK_STATUS(frnn_stack_create_uniform(NULL, 1, &s), FRNN_STATUS_NULL_POINTER);
    CHECK_STATUS(frnn_stack_create_uniform(&d, 1, NULL), FRNN_STATUS_NULL_POINTER);
    CHECK(s == SENTINEL);
    /* Weights: too few sets, then one buffer one short. */
    float *w[4][4];
    size_t wl[4][4];
    frnn_weights ws[4];
    for (size_t k = 0; k < 4; k++) {
        CHECK_OK(frnn_stack_desc_weight_lens(&d, k, &wl[k][0], &wl[k][1], &wl[k][2]));
        wl[k][3] = wl[k][2];
        for (int b = 0; b < 4; b++) w[k][b] = alloc_fill(wl[k][b], 0.1f);
        ws[k].w_ih = (frnn_const_buffer){w[k][0], wl[k][0]};
        ws[k].w_hh = (frnn_const_buffer){w[k][1], wl[k][1]};
        ws[k].b_ih = (frnn_const_buffer){w[k][2], wl[k][2]};
        ws[k].b_hh = (frnn_const_buffer){w[k][3], wl[k][3]};
    }
    CHECK_STATUS(frnn_stack_create(&d, ws, 3, &s), FRNN_STATUS_LENGTH_MISMATCH);
    CHECK_STATUS(frnn_stack_create(&d, NULL, 4, &s), FRNN_STATUS_NULL_POINTER);
    ws[2].w_ih.len -= 1;
    CHECK_STATUS(frnn_stack_create(&d, ws, 4, &s), FRNN_STATUS_LENGTH_MISMATCH);
    check_msg_has("2"); /* names the weight set */
    ws[2].w_ih.len += 1;
    ws[1].b_hh.data = NULL;
    CHECK_STATUS(frnn_stack_create(&d, ws, 4, &s), FRNN_STATUS_NULL_POINTER);
    ws[1].b_hh.data = w[1][3];
    CHECK(s == SENTINEL);
    s = NULL;
    CHECK_OK(frnn_stack_create(&d, ws, 4, &s));

    /* Calls: T*N past SIZE_MAX, zero sizes, wrong lengths, c-states, NULL handles. */
    const size_t T = 3, N = 2;
    float *x = alloc_fill(T * N * 3, 0.5f), *y = alloc_fill(T * N * 8, NAN);
    float *h = alloc_fill(4 * N * 4, 0.0f);
    CHECK_STATUS(frnn_stack_forward(NULL, T, N, x, T * N * 3, NULL, 0, NULL, 0, y, T * N * 8, NULL, 0, NULL, 0),
                 FRNN_STATUS_NULL_POINTER);
    CHECK_STATUS(frnn_stack_forward(s, 0, N, x, 0, NULL, 0, NULL, 0, y, 0, NULL, 0, NULL, 0),
                 FRNN_STATUS_ZERO_SIZE);
    CHECK_STATUS(frnn_stack_forward(s, SIZE_MAX / 2, 4, x, T * N * 3, NULL, 0, NULL, 0, y, T * N * 8, NULL, 0,
                                    NULL, 0),
                 FRNN_STATUS_OVERFLOW);
    CHECK_STATUS(frnn_stack_forward(s, T, N, x, T * N * 3 - 1, NULL, 0, NULL, 0, y, T * N * 8, NULL, 0, NULL, 0),
                 FRNN_STATUS_LENGTH_MISMATCH);
    check_msg_has("x");
    CHECK_STATUS(frnn_stack_forward(s, T, N, x, T * N * 3, h, 4 * N * 4 + 1, NULL, 0, y, T * N * 8, NULL, 0, NULL,
                                    0),
                 FRNN_STATUS_LENGTH_MISMATCH);
    check_msg_has("h0");
    CHECK_STATUS(frnn_stack_forward(s, T, N, x, T * N * 3, NULL, 0, NULL, 0, NULL, T * N * 8, NULL, 0, NULL, 0),
                 FRNN_STATUS_NULL_POINTER);
    CHECK(isnan(y[0]));
    CHECK_OK(frnn_stack_forward(s, T, N, x, T * N * 3, NULL, 0, NULL, 0, y, T * N * 8, NULL, 0, NULL, 0));

    /* Backward without a training forward; with a mismatched grads count. */
    frnn_stack_workspace *wsp = NULL;
    CHECK_STATUS(frnn_stack_workspace_create(NULL), FRNN_STATUS_NULL_POINTER);
    CHECK_OK(frnn_stack_workspace_create(&wsp));
    float *g[4][4];
    frnn_weights_mut gm[4];
    for (size_t k = 0; k < 4; k++) {
        for (int b = 0; b < 4; b++) g[k][b] = alloc_fill(wl[k][b], 0.0f);
        gm[k].w_ih = (frnn_buffer){g[k][0], wl[k][0]};
        gm[k].w_hh = (frnn_buffer){g[k][1], wl[k][1]};
        gm[k].b_ih = (frnn_buffer){g[k][2], wl[k][2]};
        gm[k].b_hh = (frnn_buffer){g[k][3], wl[k][3]};
    }
    CHECK_STATUS(frnn_stack_backward(s, wsp, y, T * N * 8, NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0, gm, 4,
                                     FRNN_GRAD_MODE_OVERWRITE),
                 FRNN_STATUS_WORKSPACE);
    CHECK_OK(frnn_stack_forward_train(s, wsp, T, N, x, T * N * 3, NULL, 0, NULL, 0, y, T * N * 8, NULL, 0, NULL, 0));
    CHECK_STATUS(frnn_stack_backward(s, wsp, y, T * N * 8, NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0, gm, 3,
                                     FRNN_GRAD_MODE_OVERWRITE),
                 FRNN_STATUS_LENGTH_MISMATCH);
    CHECK_STATUS(frnn_stack_backward(s, wsp, y, T * N * 8, NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0, gm, 4, 7),
                 FRNN_STATUS_INVALID_VALUE);
    check_msg_has("mode");
    CHECK_OK(frnn_stack_backward(s, wsp, y, T * N * 8, NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0, gm, 4,
                                 FRNN_GRAD_MODE_OVERWRITE));

    /* Streams need a forward-direction stack. */
    frnn_stack_stream *ss = (frnn_stack_stream *)(uintptr_t)0x5e7;
    CHECK_STATUS(frnn_stack_stream_create(s, N, T, &ss), FRNN_STATUS_INVALID_VALUE);
    CHECK(ss == (frnn_stack_stream *)(uintptr_t)0x5e7);
    CHECK_STATUS(frnn_stack_stream_push(NULL, s, x, 3, y, 8), FRNN_STATUS_NULL_POINTER);

    /* Clipping. */
    double norm = -1.0;
    float fnorm = -1.0f;
    size_t changed = 99;
    frnn_buffer mb = {g[0][0], wl[0][0]};
    frnn_const_buffer cb = {g[0][0], wl[0][0]};
    CHECK_STATUS(frnn_grad_norm(NULL, 1, &norm), FRNN_STATUS_NULL_POINTER);
    CHECK_STATUS(frnn_grad_norm(&cb, 1, NULL), FRNN_STATUS_NULL_POINTER);
    CHECK(norm == -1.0);
    CHECK_STATUS(frnn_clip_grad_norm(&mb, 1, -1.0f, &fnorm), FRNN_STATUS_INVALID_VALUE);
    CHECK_STATUS(frnn_clip_grad_norm(&mb, 1, NAN, &fnorm), FRNN_STATUS_INVALID_VALUE);
    CHECK_STATUS(frnn_clip_grad_value(&mb, 1, -0.5f, &changed), FRNN_STATUS_INVALID_VALUE);
    CHECK(fnorm == -1.0f && changed == 99);
    frnn_buffer nullbuf = {NULL, 3};
    CHECK_STATUS(frnn_clip_grad_value(&nullbuf, 1, 0.5f, &changed), FRNN_STATUS_NULL_POINTER);

    for (size_t k = 0; k < 4; k++)
        for (int b = 0; b < 4; b++) {
            free(w[k][b]);
            free(g[k][b]);
        }
    free(x);
    free(y);
    free(h);
    frnn_stack_workspace_destroy(wsp);
    frnn_stack_destroy(s);
}

static void files(const char *dir) {
    frnn_stack_desc d = lstm_desc();
    frnn_stack *s = SENTINEL;
    char path[1024];
    snprintf(path, sizeof path, "%s/no_such_file.safetensors", dir);
    CHECK_STATUS(frnn_stack_load_safetensors(&d, path, NULL, &s), FRNN_STATUS_INVALID_VALUE);
    CHECK(s == SENTINEL);
    CHECK_STATUS(frnn_stack_load_safetensors(&d, NULL, NULL, &s), FRNN_STATUS_NULL_POINTER);
    const uint8_t junk[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    CHECK_STATUS(frnn_stack_load_safetensors_bytes(&d, junk, sizeof junk, NULL, &s), FRNN_STATUS_INVALID_VALUE);
    CHECK(s == SENTINEL);
    /* A one-layer file for a two-layer descriptor: the missing parameter is named. */
    frnn_stack_desc one = d;
    one.num_layers = 1;
    frnn_stack *s1 = NULL;
    CHECK_OK(frnn_stack_create_uniform(&one, 3, &s1));
    size_t len = 0;
    CHECK_OK(frnn_stack_save_safetensors_bytes(s1, NULL, 0, &len));
    uint8_t *bytes = (uint8_t *)xmalloc(len);
    size_t small = 3;
    CHECK_STATUS(frnn_stack_save_safetensors_bytes(s1, bytes, len - 1, &small), FRNN_STATUS_LENGTH_MISMATCH);
    CHECK(small == 3);
    CHECK_OK(frnn_stack_save_safetensors_bytes(s1, bytes, len, &len));
    CHECK_STATUS(frnn_stack_load_safetensors_bytes(&d, bytes, len, NULL, &s), FRNN_STATUS_INVALID_VALUE);
    check_msg_has("weight_ih_l1");
    CHECK(s == SENTINEL);
    /* ONNX and Keras sizes refuse bad descriptors. */
    frnn_layer_desc ld;
    memset(&ld, 0, sizeof ld);
    ld.cell = FRNN_CELL_GRU;
    ld.input_size = 2;
    ld.hidden_size = 3;
    size_t a = 1, b = 1, c = 1, p = 1;
    CHECK_STATUS(frnn_convert_onnx_sizes(&ld, 3, &a, &b, &c, &p), FRNN_STATUS_INVALID_VALUE);
    CHECK(a == 1 && b == 1 && c == 1 && p == 1);
    ld.hidden_size = 0;
    CHECK_STATUS(frnn_convert_keras_sizes(&ld, &a, &b, &c), FRNN_STATUS_ZERO_SIZE);
    free(bytes);
    frnn_stack_destroy(s1);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: stack_errors DIR\n");
        return 2;
    }
    frnn_stack_destroy(NULL);
    frnn_stack_workspace_destroy(NULL);
    frnn_stack_stream_destroy(NULL);
    descriptors();
    stacks_and_calls();
    files(argv[1]);
    if (g_failures) {
        fprintf(stderr, "stack_errors: %d failures\n", g_failures);
        return 1;
    }
    printf("stack_errors: OK\n");
    return 0;
}
