/* Stacks through the C ABI, against values the Rust API produced (tests/ffi_stack.rs writes
 * the fixture): forward, training forward, backward overwrite and accumulate, weights
 * get/set, streaming step by step and in one chunk, PyTorch safetensors files (plain and
 * prefixed, from a path and from memory, saved and loaded back), ONNX and Keras layouts, and
 * gradient clipping.
 *
 * usage: stack FIXTURE DIR   (DIR holds stack_case{k}.safetensors and the prefixed files) */
#include "common.h"

#define MAXK 8
#define NL(p, len) (p), ((p) ? (len) : 0)

static const char *const WN[4] = {"w_ih", "w_hh", "b_ih", "b_hh"};
static const char *const DWN[4] = {"dw_ih", "dw_hh", "db_ih", "db_hh"};

static int same(const float *a, const float *b, size_t len) {
    return len == 0 || memcmp(a, b, len * sizeof(float)) == 0;
}

typedef struct {
    size_t k_count;
    size_t wl[MAXK][4];
    float *w[MAXK][4];
    frnn_weights cw[MAXK];
} weights_set;

static void load_weights(const fx_case *c, const frnn_stack_desc *d, weights_set *s) {
    char name[40];
    CHECK_OK(frnn_stack_desc_sizes(d, &s->k_count, &(size_t){0}));
    CHECK(s->k_count <= MAXK);
    for (size_t k = 0; k < s->k_count; k++) {
        CHECK_OK(frnn_stack_desc_weight_lens(d, k, &s->wl[k][0], &s->wl[k][1], &s->wl[k][2]));
        s->wl[k][3] = s->wl[k][2];
        for (int b = 0; b < 4; b++) {
            snprintf(name, sizeof name, "%s.%zu", WN[b], k);
            s->w[k][b] = fx_floats(c, name, s->wl[k][b]);
        }
        s->cw[k].w_ih = (frnn_const_buffer){s->w[k][0], s->wl[k][0]};
        s->cw[k].w_hh = (frnn_const_buffer){s->w[k][1], s->wl[k][1]};
        s->cw[k].b_ih = (frnn_const_buffer){s->w[k][2], s->wl[k][2]};
        s->cw[k].b_hh = (frnn_const_buffer){s->w[k][3], s->wl[k][3]};
    }
}

/* The stack's weights equal `s`, bit for bit. */
static void check_weights(const frnn_stack *st, const weights_set *s) {
    float *got[MAXK][4];
    frnn_weights_mut g[MAXK];
    for (size_t k = 0; k < s->k_count; k++) {
        for (int b = 0; b < 4; b++) got[k][b] = alloc_fill(s->wl[k][b], NAN);
        g[k].w_ih = (frnn_buffer){got[k][0], s->wl[k][0]};
        g[k].w_hh = (frnn_buffer){got[k][1], s->wl[k][1]};
        g[k].b_ih = (frnn_buffer){got[k][2], s->wl[k][2]};
        g[k].b_hh = (frnn_buffer){got[k][3], s->wl[k][3]};
    }
    CHECK_OK(frnn_stack_get_weights(st, g, s->k_count));
    for (size_t k = 0; k < s->k_count; k++)
        for (int b = 0; b < 4; b++) {
            CHECK(same(got[k][b], s->w[k][b], s->wl[k][b]));
            free(got[k][b]);
        }
}

static void check_files(const fx_case *c, const frnn_stack_desc *d, const weights_set *s,
                        const char *dir, size_t index) {
    char path[1024];
    frnn_stack *st = NULL;
    snprintf(path, sizeof path, "%s/stack_case%zu.safetensors", dir, index);
    CHECK_OK(frnn_stack_load_safetensors(d, path, NULL, &st));
    if (st) check_weights(st, s);
    frnn_stack *sp = NULL;
    snprintf(path, sizeof path, "%s/stack_case%zu_prefixed.safetensors", dir, index);
    CHECK_OK(frnn_stack_load_safetensors(d, path, "encoder.rnn.", &sp));
    if (sp) check_weights(sp, s);
    /* Saved to memory and loaded back; saved to a file and loaded back. */
    size_t len = 0;
    CHECK_OK(frnn_stack_save_safetensors_bytes(st, NULL, 0, &len));
    CHECK(len > 0);
    uint8_t *bytes = (uint8_t *)xmalloc(len);
    size_t len2 = 0;
    CHECK_OK(frnn_stack_save_safetensors_bytes(st, bytes, len, &len2));
    CHECK(len2 == len);
    frnn_stack *sb = NULL;
    CHECK_OK(frnn_stack_load_safetensors_bytes(d, bytes, len, "", &sb));
    if (sb) check_weights(sb, s);
    snprintf(path, sizeof path, "%s/stack_case%zu_saved.safetensors", dir, index);
    CHECK_OK(frnn_stack_save_safetensors(st, path));
    frnn_stack *sf = NULL;
    CHECK_OK(frnn_stack_load_safetensors(d, path, "", &sf));
    if (sf) check_weights(sf, s);
    (void)c;
    free(bytes);
    frnn_stack_destroy(st);
    frnn_stack_destroy(sp);
    frnn_stack_destroy(sb);
    frnn_stack_destroy(sf);
}

/* ONNX per layer (its directions in one operator) and Keras per layer-direction. */
static void check_layouts(const fx_case *c, const frnn_stack_desc *d, const weights_set *s,
                          size_t layers, size_t dirs, size_t W) {
    char name[40];
    for (size_t l = 0; l < layers; l++) {
        frnn_layer_desc ld;
        memset(&ld, 0, sizeof ld);
        ld.cell = d->cell;
        ld.gru_variant = d->gru_variant;
        ld.activation = d->activation;
        ld.input_size = l == 0 ? d->input_size : W;
        ld.hidden_size = d->hidden_size;
        size_t wl, rl, bl, pl;
        CHECK_OK(frnn_convert_onnx_sizes(&ld, dirs, &wl, &rl, &bl, &pl));
        float *w = alloc_fill(wl, NAN), *r = alloc_fill(rl, NAN), *b = alloc_fill(bl, NAN);
        CHECK_OK(frnn_convert_to_onnx(&ld, &s->cw[l * dirs], dirs, w, wl, r, rl, b, bl));
        const char *nm[3] = {"onnx_w", "onnx_r", "onnx_b"};
        float *got[3] = {w, r, b};
        size_t lens[3] = {wl, rl, bl};
        for (int k = 0; k < 3; k++) {
            snprintf(name, sizeof name, "%s.%zu", nm[k], l);
            float *want = fx_floats(c, name, lens[k]);
            CHECK(same(got[k], want, lens[k]));
            free(want);
        }
        /* And back to PyTorch's layout. */
        float *back[2][4];
        frnn_weights_mut out[2];
        for (size_t dd = 0; dd < dirs; dd++) {
            const size_t k = l * dirs + dd;
            for (int q = 0; q < 4; q++) back[dd][q] = alloc_fill(s->wl[k][q], NAN);
            out[dd].w_ih = (frnn_buffer){back[dd][0], s->wl[k][0]};
            out[dd].w_hh = (frnn_buffer){back[dd][1], s->wl[k][1]};
            out[dd].b_ih = (frnn_buffer){back[dd][2], s->wl[k][2]};
            out[dd].b_hh = (frnn_buffer){back[dd][3], s->wl[k][3]};
        }
        CHECK_OK(frnn_convert_from_onnx(&ld, dirs, w, wl, r, rl, b, bl, NULL, 0, out, dirs));
        for (size_t dd = 0; dd < dirs; dd++)
            for (int q = 0; q < 4; q++) {
                CHECK(same(back[dd][q], s->w[l * dirs + dd][q], s->wl[l * dirs + dd][q]));
                free(back[dd][q]);
            }
        free(w);
        free(r);
        free(b);

        for (size_t dd = 0; dd < dirs; dd++) {
            const size_t k = l * dirs + dd;
            size_t kl, rkl, kbl;
            CHECK_OK(frnn_convert_keras_sizes(&ld, &kl, &rkl, &kbl));
            float *kk = alloc_fill(kl, NAN), *rk = alloc_fill(rkl, NAN), *kb = alloc_fill(kbl, NAN);
            CHECK_OK(frnn_convert_to_keras(&ld, &s->cw[k], kk, kl, rk, rkl, kb, kbl));
            const char *kn[3] = {"keras_kernel", "keras_rk", "keras_bias"};
            float *kg[3] = {kk, rk, kb};
            size_t kls[3] = {kl, rkl, kbl};
            for (int q = 0; q < 3; q++) {
                snprintf(name, sizeof name, "%s.%zu", kn[q], k);
                const fx_array *a = fx_get(c, name, kls[q]);
                /* The summed bias is computed, not copied: compare with tolerance. */
                CHECK_CLOSE(name, kg[q], a->v, kls[q]);
            }
            float *bw[4];
            for (int q = 0; q < 4; q++) bw[q] = alloc_fill(s->wl[k][q], NAN);
            frnn_weights_mut o = {{bw[0], s->wl[k][0]}, {bw[1], s->wl[k][1]}, {bw[2], s->wl[k][2]},
                                  {bw[3], s->wl[k][3]}};
            CHECK_OK(frnn_convert_from_keras(&ld, kk, kl, rk, rkl, kb, kbl, &o));
            CHECK(same(bw[0], s->w[k][0], s->wl[k][0]) && same(bw[1], s->w[k][1], s->wl[k][1]));
            for (int q = 0; q < 4; q++) free(bw[q]);
            free(kk);
            free(rk);
            free(kb);
        }
    }
}

static void check_clip(float **bufs, const size_t *lens, size_t count) {
    double sq = 0.0;
    for (size_t k = 0; k < count; k++)
        for (size_t e = 0; e < lens[k]; e++) sq += (double)bufs[k][e] * bufs[k][e];
    const double want = sqrt(sq);
    frnn_const_buffer cb[4 * MAXK];
    frnn_buffer mb[4 * MAXK];
    for (size_t k = 0; k < count; k++) {
        cb[k] = (frnn_const_buffer){bufs[k], lens[k]};
        mb[k] = (frnn_buffer){bufs[k], lens[k]};
    }
    double norm = -1.0;
    CHECK_OK(frnn_grad_norm(cb, count, &norm));
    CHECK(fabs(norm - want) <= 1e-6 * want);
    /* Under the threshold: nothing changes. */
    float before = bufs[0][0], got = -1.0f;
    CHECK_OK(frnn_clip_grad_norm(mb, count, (float)(10.0 * want), &got));
    CHECK(bufs[0][0] == before && fabs(got - want) <= 1e-5 * want);
    /* Over it: scaled to half the norm. */
    CHECK_OK(frnn_clip_grad_norm(mb, count, (float)(0.5 * want), &got));
    CHECK(fabs(got - want) <= 1e-5 * want);
    CHECK_OK(frnn_grad_norm(cb, count, &norm));
    CHECK(fabs(norm - 0.5 * want) <= 1e-5 * want);
    /* By value. */
    const float v = (float)(0.1 * norm / sqrt((double)lens[0]));
    size_t changed = (size_t)-1;
    CHECK_OK(frnn_clip_grad_value(mb, count, v, &changed));
    CHECK(changed > 0 && changed != (size_t)-1);
    for (size_t k = 0; k < count; k++)
        for (size_t e = 0; e < lens[k]; e++) CHECK(fabsf(bufs[k][e]) <= v);
}

/* Variable-length batches: each entry equals, bitwise, that sequence run alone with its own
 * length (batch invariance), zero past its length; all-full lengths equal no lengths. */
static void check_lengths(const frnn_stack *st, const frnn_stack_desc *d, size_t T, size_t N, size_t K,
                          size_t W, const float *x, const float *h0, const float *c0, const float *y_full,
                          const frnn_weights_mut *gm) {
    const size_t I = d->input_size, H = d->hidden_size, ns = K * N * H;
    const int lstm = d->cell == FRNN_CELL_LSTM, bf = d->batch_first != 0;
    size_t lens[16];
    CHECK(N <= 16);
    for (size_t b = 0; b < N; b++) lens[b] = T;
    float *y = alloc_fill(T * N * W, NAN), *hn = alloc_fill(ns, NAN), *cn = lstm ? alloc_fill(ns, NAN) : NULL;
    CHECK_OK(frnn_stack_forward_lengths(st, T, N, lens, N, x, T * N * I, h0, ns, NL(c0, ns), y, T * N * W, NULL, 0,
                                        NULL, 0));
    CHECK(same(y, y_full, T * N * W));
    for (size_t b = 0; b < N; b++) lens[b] = b == 0 ? T : (T + b) % (T + 1);
    CHECK_OK(frnn_stack_forward_lengths(st, T, N, lens, N, x, T * N * I, h0, ns, NL(c0, ns), y, T * N * W, hn, ns,
                                        NL(cn, ns)));
    /* Element (t, b) of a [T, N, w] (or [N, T, w]) sequence. */
#define AT(p, t, b, w) ((p) + (bf ? ((b) * T + (t)) : ((t) * N + (b))) * (w))
    for (size_t b = 0; b < N; b++) {
        const size_t L = lens[b];
        float *h0b = alloc_fill(K * H, 0.0f), *c0b = alloc_fill(K * H, 0.0f);
        for (size_t k = 0; k < K; k++) {
            memcpy(h0b + k * H, h0 + (k * N + b) * H, H * sizeof(float));
            if (lstm) memcpy(c0b + k * H, c0 + (k * N + b) * H, H * sizeof(float));
        }
        if (L == 0) {
            for (size_t k = 0; k < K; k++) CHECK(same(hn + (k * N + b) * H, h0b + k * H, H));
        } else {
            float *xb = alloc_fill(L * I, 0.0f), *yb = alloc_fill(L * W, NAN);
            float *hb = alloc_fill(K * H, NAN), *cb = alloc_fill(K * H, NAN);
            for (size_t t = 0; t < L; t++) memcpy(xb + t * I, AT(x, t, b, I), I * sizeof(float));
            CHECK_OK(frnn_stack_forward(st, L, 1, xb, L * I, h0b, K * H, lstm ? c0b : NULL, lstm ? K * H : 0, yb, L * W,
                                        hb, K * H, lstm ? cb : NULL, lstm ? K * H : 0));
            for (size_t t = 0; t < L; t++) CHECK(same(AT(y, t, b, W), yb + t * W, W));
            for (size_t k = 0; k < K; k++) {
                CHECK(same(hn + (k * N + b) * H, hb + k * H, H));
                if (lstm) CHECK(same(cn + (k * N + b) * H, cb + k * H, H));
            }
            free(xb);
            free(yb);
            free(hb);
            free(cb);
        }
        for (size_t t = L; t < T; t++) CHECK(all_equal(AT(y, t, b, W), W, 0.0f));
        free(h0b);
        free(c0b);
    }
#undef AT
    /* Training forward with lengths, then backward: dx is zero past each length. */
    frnn_stack_workspace *ws = NULL;
    CHECK_OK(frnn_stack_workspace_create(&ws));
    CHECK_OK(frnn_stack_forward_train_lengths(st, ws, T, N, lens, N, x, T * N * I, h0, ns, NL(c0, ns), y, T * N * W,
                                              NULL, 0, NULL, 0));
    float *dy = alloc_fill(T * N * W, 1.0f), *dx = alloc_fill(T * N * I, NAN);
    CHECK_OK(frnn_stack_backward(st, ws, dy, T * N * W, NULL, 0, NULL, 0, dx, T * N * I, NULL, 0, NULL, 0, gm, K,
                                 FRNN_GRAD_MODE_OVERWRITE));
    for (size_t b = 0; b < N; b++)
        for (size_t t = lens[b]; t < T; t++)
            CHECK(all_equal(bf ? dx + (b * T + t) * I : dx + (t * N + b) * I, I, 0.0f));
    /* Bad lengths. */
    lens[0] = T + 1;
    CHECK_STATUS(frnn_stack_forward_lengths(st, T, N, lens, N, x, T * N * I, NULL, 0, NULL, 0, y, T * N * W, NULL, 0,
                                            NULL, 0),
                 FRNN_STATUS_INVALID_VALUE);
    CHECK_STATUS(frnn_stack_forward_lengths(st, T, N, lens, N + 1, x, T * N * I, NULL, 0, NULL, 0, y, T * N * W, NULL,
                                            0, NULL, 0),
                 FRNN_STATUS_LENGTH_MISMATCH);
    CHECK_STATUS(frnn_stack_forward_lengths(st, T, N, NULL, N, x, T * N * I, NULL, 0, NULL, 0, y, T * N * W, NULL, 0,
                                            NULL, 0),
                 FRNN_STATUS_NULL_POINTER);
    frnn_stack_workspace_destroy(ws);
    free(dy);
    free(dx);
    free(y);
    free(hn);
    free(cn);
}

static void run_case(const fx_case *c, size_t index, const char *dir) {
    const fx_array *meta = fx_get(c, "stack", 4);
    const size_t L = (size_t)meta->v[0], T = c->t, N = c->n, I = c->i, H = c->h;
    const int bf = meta->v[2] != 0.0, has_st = meta->v[3] != 0.0;
    const int lstm = c->cell == FRNN_CELL_LSTM;
    frnn_stack_desc d;
    memset(&d, 0, sizeof d);
    d.cell = c->cell;
    d.gru_variant = c->variant;
    d.activation = c->activation;
    d.direction = (uint32_t)meta->v[1];
    d.input_size = I;
    d.hidden_size = H;
    d.num_layers = L;
    d.batch_first = (uint32_t)bf;
    size_t K = 0, W = 0;
    CHECK_OK(frnn_stack_desc_sizes(&d, &K, &W));
    const size_t dirs = K / L;
    weights_set s;
    load_weights(c, &d, &s);

    frnn_stack *st = NULL;
    CHECK_OK(frnn_stack_create(&d, s.cw, K, &st));
    if (!st) return;
    check_weights(st, &s);
    const size_t nx = T * N * I, ny = T * N * W, ns = K * N * H;
    float *x = fx_floats(c, "x", nx), *h0 = fx_floats(c, "h0", ns);
    float *c0 = lstm ? fx_floats(c, "c0", ns) : NULL;

    /* Training forward, then inference: the same numbers. */
    frnn_stack_workspace *ws = NULL;
    CHECK_OK(frnn_stack_workspace_create(&ws));
    float *y = alloc_fill(ny, NAN), *hn = alloc_fill(ns, NAN), *cn = lstm ? alloc_fill(ns, NAN) : NULL;
    CHECK_OK(frnn_stack_forward_train(st, ws, T, N, x, nx, h0, ns, NL(c0, ns), y, ny, hn, ns, NL(cn, ns)));
    CHECK_CLOSE("y", y, fx_get(c, "y", ny)->v, ny);
    CHECK_CLOSE("h_n", hn, fx_get(c, "h_n", ns)->v, ns);
    if (lstm) CHECK_CLOSE("c_n", cn, fx_get(c, "c_n", ns)->v, ns);
    float *y2 = alloc_fill(ny, NAN);
    CHECK_OK(frnn_stack_forward(st, T, N, x, nx, h0, ns, NL(c0, ns), y2, ny, NULL, 0, NULL, 0));
    CHECK(same(y, y2, ny));

    /* Backward, overwriting NaN-filled gradients, then accumulating on top. */
    float *dy = fx_floats(c, "dy", ny), *dhn = fx_floats(c, "dh_n", ns);
    float *dcn = lstm ? fx_floats(c, "dc_n", ns) : NULL;
    float *dx = alloc_fill(nx, NAN), *dh0 = alloc_fill(ns, NAN), *dc0 = lstm ? alloc_fill(ns, NAN) : NULL;
    float *g[MAXK * 4];
    size_t gl[MAXK * 4];
    frnn_weights_mut gm[MAXK];
    for (size_t k = 0; k < K; k++) {
        for (int b = 0; b < 4; b++) {
            gl[4 * k + b] = s.wl[k][b];
            g[4 * k + b] = alloc_fill(s.wl[k][b], NAN);
        }
        gm[k].w_ih = (frnn_buffer){g[4 * k], gl[4 * k]};
        gm[k].w_hh = (frnn_buffer){g[4 * k + 1], gl[4 * k + 1]};
        gm[k].b_ih = (frnn_buffer){g[4 * k + 2], gl[4 * k + 2]};
        gm[k].b_hh = (frnn_buffer){g[4 * k + 3], gl[4 * k + 3]};
    }
    CHECK_OK(frnn_stack_backward(st, ws, dy, ny, dhn, ns, NL(dcn, ns), dx, nx, dh0, ns, NL(dc0, ns), gm, K,
                                 FRNN_GRAD_MODE_OVERWRITE));
    CHECK_CLOSE("dx", dx, fx_get(c, "dx", nx)->v, nx);
    CHECK_CLOSE("dh0", dh0, fx_get(c, "dh0", ns)->v, ns);
    if (lstm) CHECK_CLOSE("dc0", dc0, fx_get(c, "dc0", ns)->v, ns);
    char name[40];
    for (size_t k = 0; k < K; k++)
        for (int b = 0; b < 4; b++) {
            snprintf(name, sizeof name, "%s.%zu", DWN[b], k);
            CHECK_CLOSE(name, g[4 * k + b], fx_get(c, name, gl[4 * k + b])->v, gl[4 * k + b]);
        }
    CHECK_OK(frnn_stack_forward_train(st, ws, T, N, x, nx, h0, ns, NL(c0, ns), y, ny, NULL, 0, NULL, 0));
    CHECK_OK(frnn_stack_backward(st, ws, dy, ny, dhn, ns, NL(dcn, ns), NULL, 0, NULL, 0, NULL, 0, gm, K,
                                 FRNN_GRAD_MODE_ACCUMULATE));
    for (size_t k = 0; k < K; k++)
        for (int b = 0; b < 4; b++) {
            snprintf(name, sizeof name, "%s.%zu", DWN[b], k);
            const fx_array *a = fx_get(c, name, gl[4 * k + b]);
            double *twice = (double *)xmalloc(a->len * sizeof(double) + 1);
            for (size_t e = 0; e < a->len; e++) twice[e] = 2.0 * a->v[e];
            CHECK_CLOSE(name, g[4 * k + b], twice, a->len);
            free(twice);
        }
    check_clip(g, gl, 4 * K);

    /* Streaming (forward-direction, time-major stacks): step by step, then in one push. */
    if (d.direction == FRNN_DIRECTION_FORWARD && !bf) {
        frnn_stack_stream *ss = NULL;
        CHECK_OK(frnn_stack_stream_create(st, N, T, &ss));
        CHECK_OK(frnn_stack_stream_set_state(ss, h0, ns, NL(c0, ns)));
        float *ys = alloc_fill(ny, NAN);
        for (size_t t = 0; t < T; t++)
            CHECK_OK(frnn_stack_stream_push(ss, st, x + t * N * I, N * I, ys + t * N * W, N * W));
        CHECK(same(ys, y2, ny));
        float *sh = alloc_fill(ns, NAN);
        CHECK_OK(frnn_stack_stream_get_state(ss, sh, ns, NULL, 0));
        CHECK(same(sh, hn, ns));
        CHECK_OK(frnn_stack_stream_reset(ss));
        CHECK_OK(frnn_stack_stream_set_state(ss, h0, ns, NL(c0, ns)));
        float *yo = alloc_fill(ny, NAN);
        CHECK_OK(frnn_stack_stream_push(ss, st, x, nx, yo, ny));
        CHECK(same(yo, y2, ny));
        free(ys);
        free(sh);
        free(yo);
        frnn_stack_stream_destroy(ss);
    }

    check_lengths(st, &d, T, N, K, W, x, h0, c0, y2, gm);
    if (has_st) check_files(c, &d, &s, dir, index);
    check_layouts(c, &d, &s, L, dirs, W);

    for (size_t k = 0; k < 4 * K; k++) free(g[k]);
    for (size_t k = 0; k < K; k++)
        for (int b = 0; b < 4; b++) free(s.w[k][b]);
    float *bufs[] = {x, h0, c0, y, hn, cn, y2, dy, dhn, dcn, dx, dh0, dc0};
    for (size_t k = 0; k < sizeof bufs / sizeof bufs[0]; k++) free(bufs[k]);
    frnn_stack_workspace_destroy(ws);
    frnn_stack_destroy(st);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: stack FIXTURE DIR\n");
        return 2;
    }
    fixture *fx = fx_load(argv[1]);
    for (size_t k = 0; k < fx->n_cases; k++) run_case(&fx->cases[k], k, argv[2]);
    const size_t n = fx->n_cases;
    fx_free(fx);
    if (g_failures) {
        fprintf(stderr, "stack: %d failures\n", g_failures);
        return 1;
    }
    printf("stack: %zu cases OK\n", n);
    return 0;
}
