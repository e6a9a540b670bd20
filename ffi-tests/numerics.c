/* Every cell and variant through every mode, compared with the reference values of the
 * fixture (computed in f64 by fusedrnn::reference): inference with and without initial
 * states, training forward, backward-data with and without incoming state gradients,
 * backward-weights overwrite and accumulate, the combined backward, weights set/get,
 * streaming in chunks, and a second layer with its own threads giving bitwise the same
 * results.
 *
 * usage: numerics FIXTURE */
#include "common.h"

#define NBUF(p, len) (p), ((p) ? (len) : 0)

static const char *const W_NAMES[4] = {"w_ih", "w_hh", "b_ih", "b_hh"};
static const char *const DW_NAMES[4] = {"dw_ih", "dw_hh", "db_ih", "db_hh"};

/* Variable-length batches: each sequence of a padded batch gives, bitwise, what it gives run
 * alone with its own length; outputs are zero past it; with lengths, training forward and
 * backward give zero dx there. */
static void check_lengths(frnn_layer *layer, size_t T, size_t N, size_t I, size_t H, int lstm, const float *x,
                          const float *h0, const float *c0) {
    const size_t nx = T * N * I, ny = T * N * H, nh = N * H;
    size_t lens[16];
    if (N > 16) return;
    for (size_t b = 0; b < N; b++) lens[b] = (T + 1 + b) % (T + 1); /* 0..T, first is 0 */
    float *y = alloc_fill(ny, NAN), *hn = alloc_fill(nh, NAN), *cn = lstm ? alloc_fill(nh, NAN) : NULL;
    CHECK_OK(frnn_layer_forward_lengths(layer, T, N, lens, N, x, nx, h0, nh, NBUF(c0, nh), y, ny, hn, nh,
                                        NBUF(cn, nh)));
    for (size_t b = 0; b < N; b++) {
        const size_t L = lens[b];
        if (L == 0) {
            CHECK(memcmp(hn + b * H, h0 + b * H, H * sizeof(float)) == 0);
        } else {
            float *xb = alloc_fill(L * I, 0.0f), *yb = alloc_fill(L * H, NAN), *hb = alloc_fill(H, NAN);
            float *cb = alloc_fill(H, NAN);
            for (size_t t = 0; t < L; t++) memcpy(xb + t * I, x + (t * N + b) * I, I * sizeof(float));
            CHECK_OK(frnn_layer_forward(layer, L, 1, xb, L * I, h0 + b * H, H, lstm ? c0 + b * H : NULL,
                                        lstm ? H : 0, yb, L * H, hb, H, lstm ? cb : NULL, lstm ? H : 0));
            for (size_t t = 0; t < L; t++) CHECK(memcmp(y + (t * N + b) * H, yb + t * H, H * sizeof(float)) == 0);
            CHECK(memcmp(hn + b * H, hb, H * sizeof(float)) == 0);
            if (lstm) CHECK(memcmp(cn + b * H, cb, H * sizeof(float)) == 0);
            free(xb), free(yb), free(hb), free(cb);
        }
        for (size_t t = L; t < T; t++) CHECK(all_equal(y + (t * N + b) * H, H, 0.0f));
    }
    frnn_workspace *ws = NULL;
    CHECK_OK(frnn_workspace_create(&ws));
    CHECK_OK(frnn_layer_forward_train_lengths(layer, ws, T, N, lens, N, x, nx, NULL, 0, NULL, 0, y, ny, NULL, 0,
                                              NULL, 0));
    float *dy = alloc_fill(ny, 1.0f), *dx = alloc_fill(nx, NAN);
    CHECK_OK(frnn_layer_backward_data(layer, ws, dy, ny, NULL, 0, NULL, 0, dx, nx, NULL, 0, NULL, 0));
    for (size_t b = 0; b < N; b++)
        for (size_t t = lens[b]; t < T; t++) CHECK(all_equal(dx + (t * N + b) * I, I, 0.0f));
    lens[0] = T + 1;
    CHECK_STATUS(frnn_layer_forward_lengths(layer, T, N, lens, N, x, nx, NULL, 0, NULL, 0, y, ny, NULL, 0, NULL, 0),
                 FRNN_STATUS_INVALID_VALUE);
    CHECK_STATUS(frnn_layer_forward_lengths(layer, T, N, lens, N - 1, x, nx, NULL, 0, NULL, 0, y, ny, NULL, 0, NULL,
                                            0),
                 FRNN_STATUS_LENGTH_MISMATCH);
    frnn_workspace_destroy(ws);
    free(dy), free(dx), free(y), free(hn), free(cn);
}

static void run_case(const fx_case *c) {
    const size_t I = c->i, H = c->h, T = c->t, N = c->n;
    const int lstm = c->cell == FRNN_CELL_LSTM;
    const size_t G = lstm ? 4 : c->cell == FRNN_CELL_GRU ? 3 : 1;
    const size_t nx = T * N * I, ny = T * N * H, nh = N * H;
    char name[32];

    frnn_layer_desc d;
    memset(&d, 0, sizeof d);
    d.cell = c->cell;
    d.gru_variant = c->variant;
    d.activation = c->activation;
    d.input_size = I;
    d.hidden_size = H;
    size_t wl[4] = {0, 0, 0, 0};
    CHECK_OK(frnn_desc_weight_lens(&d, &wl[0], &wl[1], &wl[2]));
    wl[3] = wl[2];
    CHECK(wl[0] == G * H * I && wl[1] == G * H * H && wl[2] == G * H);

    float *w[4];
    for (int k = 0; k < 4; k++) w[k] = fx_floats(c, W_NAMES[k], wl[k]);

    /* One layer made with other weights and then given these, one made with them. */
    frnn_layer *layer = NULL, *layer2 = NULL;
    CHECK_OK(frnn_layer_create_uniform(&d, 7, &layer));
    CHECK_OK(frnn_layer_set_weights(layer, w[0], wl[0], w[1], wl[1], w[2], wl[2], w[3], wl[3]));
    CHECK_OK(frnn_layer_create(&d, w[0], wl[0], w[1], wl[1], w[2], wl[2], w[3], wl[3], &layer2));
    CHECK(layer && layer2);

    float *got[4];
    for (int k = 0; k < 4; k++) got[k] = alloc_fill(wl[k], NAN);
    CHECK_OK(frnn_layer_get_weights(layer, got[0], wl[0], got[1], wl[1], got[2], wl[2], got[3],
                                    wl[3]));
    for (int k = 0; k < 4; k++) CHECK(memcmp(got[k], w[k], wl[k] * sizeof(float)) == 0);
    /* Only some buffers: the others are skipped. */
    for (int k = 0; k < 4; k++) memset(got[k], 0, wl[k] * sizeof(float));
    CHECK_OK(frnn_layer_get_weights(layer2, NULL, 0, got[1], wl[1], NULL, 0, NULL, 0));
    CHECK(memcmp(got[1], w[1], wl[1] * sizeof(float)) == 0);
    CHECK(all_equal(got[0], wl[0], 0.0f) && all_equal(got[3], wl[3], 0.0f));

    frnn_layer_desc d2;
    memset(&d2, 0xff, sizeof d2);
    CHECK_OK(frnn_layer_get_desc(layer, &d2));
    CHECK(d2.cell == d.cell && d2.gru_variant == d.gru_variant && d2.activation == d.activation &&
          d2.input_size == I && d2.hidden_size == H);

    float *x = fx_floats(c, "x", nx), *h0 = fx_floats(c, "h0", nh), *dy = fx_floats(c, "dy", ny);
    float *dh_n = fx_floats(c, "dh_n", nh);
    float *c0 = lstm ? fx_floats(c, "c0", nh) : NULL;
    float *dc_n = lstm ? fx_floats(c, "dc_n", nh) : NULL;

    float *y = alloc_fill(ny, NAN), *h_n = alloc_fill(nh, NAN);
    float *c_n = lstm ? alloc_fill(nh, NAN) : NULL;

    /* Inference, with initial states and final states. */
    CHECK_OK(frnn_layer_forward(layer, T, N, x, nx, h0, nh, NBUF(c0, nh), y, ny, h_n, nh,
                                NBUF(c_n, nh)));
    CHECK_CLOSE("forward y", y, fx_get(c, "y", ny)->v, ny);
    CHECK_CLOSE("forward h_n", h_n, fx_get(c, "h_n", nh)->v, nh);
    if (lstm) CHECK_CLOSE("forward c_n", c_n, fx_get(c, "c_n", nh)->v, nh);

    check_lengths(layer, T, N, I, H, lstm, x, h0, c0);

    /* Inference from zero states, only y. */
    for (size_t k = 0; k < ny; k++) y[k] = NAN;
    CHECK_OK(frnn_layer_forward(layer2, T, N, x, nx, NULL, 0, NULL, 0, y, ny, NULL, 0, NULL, 0));
    CHECK_CLOSE("forward y (zero states)", y, fx_get(c, "y0", ny)->v, ny);

    /* Streaming: the sequence in two chunks from zero states (bitwise one forward's output,
     * also through another layer with the same descriptor), then from (h0, c0) in one. */
    {
        frnn_stream *st = NULL;
        const size_t t1 = T / 2;
        CHECK_OK(frnn_stream_create(layer, N, T, &st));
        float *ys = alloc_fill(ny, NAN), *hs = alloc_fill(nh, NAN);
        float *cs = lstm ? alloc_fill(nh, NAN) : NULL;
        CHECK_OK(frnn_stream_push(st, layer, x, t1 * N * I, ys, t1 * N * H));
        CHECK_OK(frnn_stream_push(st, layer2, x + t1 * N * I, (T - t1) * N * I, ys + t1 * N * H,
                                  (T - t1) * N * H));
        CHECK(memcmp(ys, y, ny * sizeof(float)) == 0);
        CHECK_OK(frnn_stream_set_state(st, h0, nh, NBUF(c0, nh)));
        CHECK_OK(frnn_stream_push(st, layer, x, nx, ys, ny));
        CHECK_CLOSE("stream y", ys, fx_get(c, "y", ny)->v, ny);
        CHECK_OK(frnn_stream_get_state(st, hs, nh, NBUF(cs, nh)));
        CHECK_CLOSE("stream h", hs, fx_get(c, "h_n", nh)->v, nh);
        if (lstm) CHECK_CLOSE("stream c", cs, fx_get(c, "c_n", nh)->v, nh);
        CHECK_OK(frnn_stream_reset(st));
        CHECK_OK(frnn_stream_get_state(st, hs, nh, NBUF(cs, nh)));
        CHECK(all_equal(hs, nh, 0.0f) && (!lstm || all_equal(cs, nh, 0.0f)));
        frnn_stream_destroy(st);
        free(ys), free(hs), free(cs);
    }

    /* Training forward into a workspace that grows on first use. */
    frnn_workspace *ws = NULL;
    size_t need = 0, have = 1;
    CHECK_OK(frnn_layer_workspace_size(layer, T, N, &need));
    CHECK(need > 0);
    CHECK_OK(frnn_workspace_create(&ws));
    CHECK_OK(frnn_workspace_size(ws, &have));
    CHECK(have == 0);
    for (size_t k = 0; k < ny; k++) y[k] = NAN;
    for (size_t k = 0; k < nh; k++) h_n[k] = NAN;
    CHECK_OK(frnn_layer_forward_train(layer, ws, T, N, x, nx, h0, nh, NBUF(c0, nh), y, ny, h_n,
                                      nh, NBUF(c_n, nh)));
    CHECK_OK(frnn_workspace_size(ws, &have));
    CHECK(have == need);
    CHECK_CLOSE("train y", y, fx_get(c, "y", ny)->v, ny);
    CHECK_CLOSE("train h_n", h_n, fx_get(c, "h_n", nh)->v, nh);
    if (lstm) CHECK_CLOSE("train c_n", c_n, fx_get(c, "c_n", nh)->v, nh);

    /* Backward-data with incoming state gradients. */
    float *dx = alloc_fill(nx, NAN), *dh0 = alloc_fill(nh, NAN);
    float *dc0 = lstm ? alloc_fill(nh, NAN) : NULL;
    CHECK_OK(frnn_layer_backward_data(layer, ws, dy, ny, dh_n, nh, NBUF(dc_n, nh), dx, nx, dh0, nh,
                                      NBUF(dc0, nh)));
    CHECK_CLOSE("dx", dx, fx_get(c, "dx", nx)->v, nx);
    CHECK_CLOSE("dh0", dh0, fx_get(c, "dh0", nh)->v, nh);
    if (lstm) CHECK_CLOSE("dc0", dc0, fx_get(c, "dc0", nh)->v, nh);

    /* Backward-weights, overwriting NaN. */
    float *g[4];
    for (int k = 0; k < 4; k++) g[k] = alloc_fill(wl[k], NAN);
    CHECK_OK(frnn_layer_backward_weights(layer, ws, x, nx, g[0], wl[0], g[1], wl[1], g[2], wl[2],
                                         g[3], wl[3], FRNN_GRAD_MODE_OVERWRITE));
    for (int k = 0; k < 4; k++) CHECK_CLOSE(DW_NAMES[k], g[k], fx_get(c, DW_NAMES[k], wl[k])->v, wl[k]);

    /* Backward-weights, accumulating onto g0. */
    double *want[4];
    for (int k = 0; k < 4; k++) {
        const double *dw = fx_get(c, DW_NAMES[k], wl[k])->v;
        want[k] = (double *)xmalloc(wl[k] * sizeof(double));
        for (size_t j = 0; j < wl[k]; j++) {
            g[k][j] = 0.25f * sinf((float)(j + 7 * k));
            want[k][j] = (double)g[k][j] + dw[j];
        }
    }
    CHECK_OK(frnn_layer_backward_weights(layer, ws, x, nx, g[0], wl[0], g[1], wl[1], g[2], wl[2],
                                         g[3], wl[3], FRNN_GRAD_MODE_ACCUMULATE));
    for (int k = 0; k < 4; k++) CHECK_CLOSE("accumulated", g[k], want[k], wl[k]);

    /* Backward-data again without incoming state gradients, only dx wanted. */
    for (size_t k = 0; k < nx; k++) dx[k] = NAN;
    for (size_t k = 0; k < nh; k++) dh0[k] = 42.0f;
    CHECK_OK(frnn_layer_backward_data(layer, ws, dy, ny, NULL, 0, NULL, 0, dx, nx, NULL, 0, NULL,
                                      0));
    CHECK_CLOSE("dx (no dh_n)", dx, fx_get(c, "dx_b", nx)->v, nx);
    CHECK(all_equal(dh0, nh, 42.0f));
    for (int k = 0; k < 4; k++)
        for (size_t j = 0; j < wl[k]; j++) g[k][j] = NAN;
    CHECK_OK(frnn_layer_backward_weights(layer, ws, x, nx, g[0], wl[0], g[1], wl[1], g[2], wl[2],
                                         g[3], wl[3], FRNN_GRAD_MODE_OVERWRITE));
    for (int k = 0; k < 4; k++) {
        snprintf(name, sizeof name, "%s_b", DW_NAMES[k]);
        CHECK_CLOSE(name, g[k], fx_get(c, name, wl[k])->v, wl[k]);
    }

    /* The second layer with its own 2 threads and a workspace sized up front: the combined
     * backward, accumulating; bitwise the same as the first layer's separate calls. */
    CHECK_OK(frnn_layer_set_num_threads(layer2, 2));
    size_t nthreads = 0;
    CHECK_OK(frnn_layer_get_num_threads(layer2, &nthreads));
    CHECK(nthreads == 2);
    frnn_workspace *ws2 = NULL;
    CHECK_OK(frnn_workspace_create_for(layer2, T, N, &ws2));
    CHECK_OK(frnn_workspace_size(ws2, &have));
    CHECK(have == need);
    float *y2 = alloc_fill(ny, NAN), *dx2 = alloc_fill(nx, NAN), *dh02 = alloc_fill(nh, NAN);
    float *dc02 = lstm ? alloc_fill(nh, NAN) : NULL;
    float *g2[4];
    for (int k = 0; k < 4; k++) {
        g2[k] = alloc_fill(wl[k], 0.0f);
        for (size_t j = 0; j < wl[k]; j++) g2[k][j] = 0.25f * sinf((float)(j + 7 * k));
    }
    CHECK_OK(frnn_layer_forward_train(layer2, ws2, T, N, x, nx, h0, nh, NBUF(c0, nh), y2, ny, NULL,
                                      0, NULL, 0));
    /* Re-run the first layer's full backward so dx is the with-state-gradients one again. */
    CHECK_OK(frnn_layer_backward_data(layer, ws, dy, ny, dh_n, nh, NBUF(dc_n, nh), dx, nx, dh0, nh,
                                      NBUF(dc0, nh)));
    CHECK_OK(frnn_layer_backward(layer2, ws2, x, nx, dy, ny, dh_n, nh, NBUF(dc_n, nh), dx2, nx, dh02,
                                 nh, NBUF(dc02, nh), g2[0], wl[0], g2[1], wl[1], g2[2], wl[2], g2[3],
                                 wl[3], FRNN_GRAD_MODE_ACCUMULATE));
    CHECK(memcmp(y2, y, ny * sizeof(float)) == 0);
    CHECK(memcmp(dx2, dx, nx * sizeof(float)) == 0);
    CHECK(memcmp(dh02, dh0, nh * sizeof(float)) == 0);
    if (lstm) CHECK(memcmp(dc02, dc0, nh * sizeof(float)) == 0);
    for (int k = 0; k < 4; k++) CHECK_CLOSE("combined backward, accumulated", g2[k], want[k], wl[k]);

    frnn_workspace_destroy(ws2);
    frnn_workspace_destroy(ws);
    frnn_layer_destroy(layer2);
    frnn_layer_destroy(layer);
    for (int k = 0; k < 4; k++) {
        free(w[k]);
        free(got[k]);
        free(g[k]);
        free(g2[k]);
        free(want[k]);
    }
    free(x), free(h0), free(c0), free(dy), free(dh_n), free(dc_n);
    free(y), free(h_n), free(c_n), free(dx), free(dh0), free(dc0);
    free(y2), free(dx2), free(dh02), free(dc02);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s FIXTURE\n", argv[0]);
        return 2;
    }
    fixture *fx = fx_load(argv[1]);
    for (size_t k = 0; k < fx->n_cases; k++) {
        int before = g_failures;
        run_case(&fx->cases[k]);
        if (g_failures != before)
            fprintf(stderr, "case %zu (cell %u variant %u activation %u) failed\n", k,
                    fx->cases[k].cell, fx->cases[k].variant, fx->cases[k].activation);
    }
    size_t n = fx->n_cases;
    fx_free(fx);
    if (g_failures) {
        fprintf(stderr, "numerics: %d failures\n", g_failures);
        return 1;
    }
    printf("numerics: %zu cases OK\n", n);
    return 0;
}
