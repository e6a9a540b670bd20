/* The training helpers through the C ABI (frnn_adam, frnn_dense, frnn_seq2vec), against
 * values the Rust API produced (tests/ffi_train.rs writes the fixture), bit for bit:
 * - frnn_seq2vec_create (seeded as Seq2Vec::new) or frnn_seq2vec_create_from_parts (layers
 *   with options from frnn_layer_create_ex, a head from frnn_dense_create_from_parts):
 *   predictions, train steps with and without clipping (losses, gradient norms), then the
 *   predictions, every layer's weights, the head and the gradients;
 * - the same training through frnn_seq2vec_loss_and_grads, _get_grads, frnn_clip_grad_norm
 *   (or frnn_grad_norm), _set_grads and _apply;
 * - save and restore: the weights read back make a model (create_from_parts) and overwrite
 *   another (set_layer_weights, set_head) that predict the same;
 * - frnn_dense (seeded, zeros, from parts, set_weights): forward, backward overwriting and
 *   accumulating;
 * - frnn_adam: betas, eps, a learning-rate change between steps, an absent (empty) buffer
 *   keeping its place, the step count, reset.
 *
 * usage: train FIXTURE */
#include "common.h"

enum { K_SEQ2VEC, K_DENSE, K_ADAM };
enum { M_KIND, M_LAYERS, M_H0, M_H1, M_H2, M_OUT, M_SEED, M_STEPS, M_MAXNORM, M_LR, M_PARTS,
       M_LN, M_PEEP, M_FGT, M_COUNT };
#define MAXL 3
#define MAXG (7 * MAXL + 2)
#define MAXS 8

/* The array `name` of case `c`, whatever its length. */
static const fx_array *fx_find(const fx_case *c, const char *name) {
    for (size_t k = 0; k < c->n_arrays; k++)
        if (strcmp(c->arrays[k].name, name) == 0) return &c->arrays[k];
    fprintf(stderr, "fixture: no array %s\n", name);
    exit(2);
}

/* Element `k` of the fixture array `name` (of `len`) equals `got` bit for bit: as a double,
 * or (`single`) as a float. */
static void check_elem_(const char *file, int line, const fx_case *c, const char *name,
                        size_t len, size_t k, double got, int single) {
    double want = fx_get(c, name, len)->v[k];
    float got32 = (float)got, want32 = (float)want;
    int same = single ? memcmp(&got32, &want32, sizeof want32) == 0
                      : memcmp(&got, &want, sizeof want) == 0;
    if (!same) {
        fprintf(stderr, "%s:%d: %s[%zu] = %.17g, want %.17g\n", file, line, name, k, got, want);
        g_failures++;
    }
}
#define CHECK_SAME_F64(c, name, len, k, got) check_elem_(__FILE__, __LINE__, c, name, len, k, got, 0)
#define CHECK_SAME_F32(c, name, len, k, got) \
    check_elem_(__FILE__, __LINE__, c, name, len, k, (double)(got), 1)

/* ---- frnn_seq2vec ---- */

typedef struct {
    const fx_case *c;
    const double *m;
    size_t layers, hidden[MAXL], outputs, steps;
    size_t nx, ny; /* T*N*I, N*outputs */
    float *x[MAXS], *y[MAXS];
} model_case;

/* The seven weights of every layer (absent ones NULL, length 0) and the head. */
typedef struct {
    size_t layers;
    frnn_layer_desc d[MAXL];
    size_t len[MAXL][7];
    float *w[MAXL][7];
    size_t hw_len, hb_len;
    float *hw, *hb;
} saved_model;

static frnn_layer_desc layer_desc(const model_case *s, size_t l) {
    frnn_layer_desc d = {0};
    d.cell = s->c->cell;
    d.gru_variant = s->c->variant;
    d.activation = s->c->activation;
    d.input_size = l == 0 ? s->c->i : s->hidden[l - 1];
    d.hidden_size = s->hidden[l];
    if (s->m[M_LN] != 0) CHECK_OK(frnn_layer_desc_set_layer_norm(&d, 1));
    if (s->m[M_PEEP] != 0) CHECK_OK(frnn_layer_desc_set_peepholes(&d, 1));
    if (s->m[M_FGT] != 0) CHECK_OK(frnn_layer_desc_set_input_forget(&d, 1));
    return d;
}

static void lens7(const frnn_layer_desc *d, size_t len[7]) {
    CHECK_OK(frnn_desc_weight_lens(d, &len[0], &len[1], &len[2]));
    len[3] = len[2];
    CHECK_OK(frnn_desc_extra_weight_lens(d, &len[4], &len[5], &len[6]));
}

#define CB(w, len, j) ((frnn_const_buffer){(w)[j], (len)[j]})
#define MB(w, len, j) ((frnn_buffer){(w)[j], (len)[j]})

/* A layer from `d` and its seven buffers (absent ones NULL). */
static frnn_layer *layer_from(const frnn_layer_desc *d, float *const w[7], const size_t len[7]) {
    frnn_weights main_w = {CB(w, len, 0), CB(w, len, 1), CB(w, len, 2), CB(w, len, 3)};
    frnn_extra_weights extra = {CB(w, len, 4), CB(w, len, 5), CB(w, len, 6)};
    frnn_layer *layer = NULL;
    CHECK_OK(frnn_layer_create_ex(d, &main_w, &extra, &layer));
    return layer;
}

/* A model from layers and a head (copied by the model; the parts are freed here). */
static frnn_seq2vec *model_from(frnn_layer *const *layers, size_t count, frnn_dense *head) {
    const frnn_layer *views[MAXL] = {0};
    for (size_t l = 0; l < count; l++) views[l] = layers[l];
    frnn_seq2vec *model = NULL;
    CHECK_OK(frnn_seq2vec_create_from_parts(views, count, head, &model));
    for (size_t l = 0; l < count; l++) frnn_layer_destroy(layers[l]);
    frnn_dense_destroy(head);
    return model;
}

/* A new model as the fixture's starts. */
static frnn_seq2vec *make_model(const model_case *s) {
    frnn_seq2vec *model = NULL;
    if (s->m[M_PARTS] == 0) {
        CHECK_OK(frnn_seq2vec_create(s->c->cell, s->c->variant, s->c->activation, s->c->i,
                                     s->hidden, s->layers, s->outputs, (uint64_t)s->m[M_SEED],
                                     &model));
        return model;
    }
    frnn_layer *layers[MAXL];
    char name[40];
    for (size_t l = 0; l < s->layers; l++) {
        frnn_layer_desc d = layer_desc(s, l);
        size_t len[7];
        float *w[7];
        lens7(&d, len);
        for (int j = 0; j < 7; j++) {
            snprintf(name, sizeof name, "w0.%zu.%d", l, j);
            w[j] = len[j] ? fx_floats(s->c, name, len[j]) : NULL;
        }
        layers[l] = layer_from(&d, w, len);
        for (int j = 0; j < 7; j++) free(w[j]);
    }
    size_t h = s->c->h, o = s->outputs;
    float *hw = fx_floats(s->c, "head_w0", o * h), *hb = fx_floats(s->c, "head_b0", o);
    frnn_dense *head = NULL;
    CHECK_OK(frnn_dense_create_from_parts(h, o, hw, o * h, hb, o, &head));
    free(hw);
    free(hb);
    return model_from(layers, s->layers, head);
}

/* Reads every layer's descriptor and weights and the head, as a C caller saves a model. */
static void save_model(const model_case *s, const frnn_seq2vec *model, saved_model *sv) {
    size_t input = 0, outputs = 0;
    CHECK_OK(frnn_seq2vec_get_sizes(model, &input, &sv->layers, &outputs));
    CHECK(input == s->c->i && sv->layers == s->layers && outputs == s->outputs);
    for (size_t l = 0; l < sv->layers; l++) {
        CHECK_OK(frnn_seq2vec_get_layer_desc(model, l, &sv->d[l]));
        frnn_layer_desc want = layer_desc(s, l);
        const frnn_layer_desc *d = &sv->d[l];
        CHECK(d->cell == want.cell && d->gru_variant == want.gru_variant &&
              d->activation == want.activation && d->input_size == want.input_size &&
              d->hidden_size == want.hidden_size);
        CHECK(d->options.layer_norm == want.options.layer_norm &&
              d->options.peepholes == want.options.peepholes &&
              d->options.input_forget == want.options.input_forget &&
              d->options.proj_size == 0 && d->options.clip == 0 && d->options.cell_clip == 0);
        lens7(&sv->d[l], sv->len[l]);
        for (int j = 0; j < 7; j++)
            sv->w[l][j] = sv->len[l][j] ? alloc_fill(sv->len[l][j], NAN) : NULL;
        const size_t *len = sv->len[l];
        float *const *w = sv->w[l];
        frnn_weights_mut main_w = {MB(w, len, 0), MB(w, len, 1), MB(w, len, 2), MB(w, len, 3)};
        frnn_extra_weights_mut extra = {MB(w, len, 4), MB(w, len, 5), MB(w, len, 6)};
        CHECK_OK(frnn_seq2vec_get_layer_weights(model, l, &main_w, &extra));
    }
    sv->hw_len = s->outputs * s->c->h;
    sv->hb_len = s->outputs;
    sv->hw = alloc_fill(sv->hw_len, NAN);
    sv->hb = alloc_fill(sv->hb_len, NAN);
    CHECK_OK(frnn_seq2vec_get_head(model, sv->hw, sv->hw_len, sv->hb, sv->hb_len));
}

static void free_saved(saved_model *sv) {
    for (size_t l = 0; l < sv->layers; l++)
        for (int j = 0; j < 7; j++) free(sv->w[l][j]);
    free(sv->hw);
    free(sv->hb);
}

static void check_saved(const model_case *s, const saved_model *sv, const char *prefix) {
    char name[40];
    for (size_t l = 0; l < sv->layers; l++)
        for (int j = 0; j < 7; j++) {
            if (!sv->len[l][j]) continue;
            snprintf(name, sizeof name, "%s.%zu.%d", prefix, l, j);
            CHECK_SAME(s->c, name, sv->w[l][j], sv->len[l][j]);
        }
    CHECK_SAME(s->c, "head_wf", sv->hw, sv->hw_len);
    CHECK_SAME(s->c, "head_bf", sv->hb, sv->hb_len);
}

/* Predicts on the first batch and compares with the fixture's `name`. */
static void check_predict(const model_case *s, const frnn_seq2vec *model, const char *name) {
    float *pred = alloc_fill(s->ny, NAN);
    CHECK_OK(frnn_seq2vec_predict(model, s->c->t, s->c->n, s->x[0], s->nx, pred, s->ny));
    CHECK_SAME(s->c, name, pred, s->ny);
    free(pred);
}

/* The gradient buffers of `model`: count, lengths, NaN-filled storage. */
typedef struct {
    size_t count, len[MAXG];
    float *g[MAXG];
    frnn_buffer mb[MAXG];
    frnn_const_buffer cb[MAXG];
} grads_t;

static void grads_alloc(const frnn_seq2vec *model, const saved_model *sv, grads_t *g) {
    size_t want = 2;
    for (size_t l = 0; l < sv->layers; l++)
        for (int j = 0; j < 7; j++) want += sv->len[l][j] != 0;
    CHECK_OK(frnn_seq2vec_grad_count(model, &g->count));
    CHECK(g->count == want && g->count <= MAXG);
    if (g->count > MAXG) g->count = 0;
    for (size_t k = 0; k < g->count; k++) {
        CHECK_OK(frnn_seq2vec_grad_len(model, k, &g->len[k]));
        g->g[k] = alloc_fill(g->len[k], NAN);
        g->mb[k] = (frnn_buffer){g->g[k], g->len[k]};
        g->cb[k] = (frnn_const_buffer){g->g[k], g->len[k]};
    }
}

static void grads_free(grads_t *g) {
    for (size_t k = 0; k < g->count; k++) free(g->g[k]);
}

static void run_model(const fx_case *c, const double *m) {
    model_case s = {0};
    s.c = c;
    s.m = m;
    s.layers = (size_t)m[M_LAYERS];
    s.outputs = (size_t)m[M_OUT];
    s.steps = (size_t)m[M_STEPS];
    if (s.layers > MAXL || s.steps > MAXS) fx_fail("too many layers or steps");
    for (size_t l = 0; l < s.layers; l++) s.hidden[l] = (size_t)m[M_H0 + l];
    s.nx = c->t * c->n * c->i;
    s.ny = c->n * s.outputs;
    char name[40];
    for (size_t k = 0; k < s.steps; k++) {
        snprintf(name, sizeof name, "x.%zu", k);
        s.x[k] = fx_floats(c, name, s.nx);
        snprintf(name, sizeof name, "y.%zu", k);
        s.y[k] = fx_floats(c, name, s.ny);
    }
    float max_norm = (float)m[M_MAXNORM], lr = (float)m[M_LR];

    /* Train steps: the losses and norms, then the predictions, weights and gradients. */
    frnn_seq2vec *model = make_model(&s);
    frnn_adam *adam = NULL;
    CHECK_OK(frnn_adam_create(lr, &adam));
    check_predict(&s, model, "pred0");
    for (size_t k = 0; k < s.steps; k++) {
        frnn_step_stats st;
        CHECK_OK(frnn_seq2vec_train_step(model, adam, c->t, c->n, s.x[k], s.nx, s.y[k], s.ny,
                                         max_norm, &st));
        CHECK_SAME_F64(c, "loss", s.steps, k, st.loss);
        CHECK_SAME_F32(c, "norm", s.steps, k, st.grad_norm);
    }
    uint64_t steps = 0;
    CHECK_OK(frnn_adam_get_steps(adam, &steps));
    CHECK(steps == s.steps);
    check_predict(&s, model, "pred");
    saved_model sv = {0};
    save_model(&s, model, &sv);
    check_saved(&s, &sv, "wf");
    grads_t g = {0};
    grads_alloc(model, &sv, &g);
    CHECK_OK(frnn_seq2vec_get_grads(model, g.mb, g.count));
    for (size_t k = 0; k < g.count; k++) {
        snprintf(name, sizeof name, "g.%zu", k);
        CHECK_SAME(c, name, g.g[k], g.len[k]);
    }

    /* The same steps in parts: loss and gradients, clipping by the caller, the update. */
    frnn_seq2vec *parts = make_model(&s);
    frnn_adam *adam2 = NULL;
    CHECK_OK(frnn_adam_create(lr, &adam2));
    for (size_t k = 0; k < s.steps; k++) {
        double loss = NAN;
        CHECK_OK(frnn_seq2vec_loss_and_grads(parts, c->t, c->n, s.x[k], s.nx, s.y[k], s.ny, &loss));
        CHECK_SAME_F64(c, "loss", s.steps, k, loss);
        CHECK_OK(frnn_seq2vec_get_grads(parts, g.mb, g.count));
        float norm = NAN;
        if (max_norm > 0) {
            CHECK_OK(frnn_clip_grad_norm(g.mb, g.count, max_norm, &norm));
        } else {
            double n64 = NAN;
            CHECK_OK(frnn_grad_norm(g.cb, g.count, &n64));
            norm = (float)n64;
        }
        CHECK_SAME_F32(c, "norm", s.steps, k, norm);
        CHECK_OK(frnn_seq2vec_set_grads(parts, g.cb, g.count));
        CHECK_OK(frnn_seq2vec_apply(parts, adam2));
    }
    check_predict(&s, parts, "pred");

    /* Restored from the saved weights, two ways. */
    frnn_layer *layers[MAXL];
    for (size_t l = 0; l < sv.layers; l++) layers[l] = layer_from(&sv.d[l], sv.w[l], sv.len[l]);
    frnn_dense *head = NULL;
    CHECK_OK(frnn_dense_create_from_parts(c->h, s.outputs, sv.hw, sv.hw_len, sv.hb, sv.hb_len, &head));
    frnn_seq2vec *restored = model_from(layers, sv.layers, head);
    check_predict(&s, restored, "pred");
    frnn_seq2vec *overwritten = make_model(&s);
    for (size_t l = 0; l < sv.layers; l++) {
        const size_t *len = sv.len[l];
        float *const *w = sv.w[l];
        frnn_weights main_w = {CB(w, len, 0), CB(w, len, 1), CB(w, len, 2), CB(w, len, 3)};
        frnn_extra_weights extra = {CB(w, len, 4), CB(w, len, 5), CB(w, len, 6)};
        CHECK_OK(frnn_seq2vec_set_layer_weights(overwritten, l, &main_w, &extra));
    }
    CHECK_OK(frnn_seq2vec_set_head(overwritten, sv.hw, sv.hw_len, sv.hb, sv.hb_len));
    check_predict(&s, overwritten, "pred");

    grads_free(&g);
    free_saved(&sv);
    for (size_t k = 0; k < s.steps; k++) {
        free(s.x[k]);
        free(s.y[k]);
    }
    frnn_seq2vec_destroy(model);
    frnn_seq2vec_destroy(parts);
    frnn_seq2vec_destroy(restored);
    frnn_seq2vec_destroy(overwritten);
    frnn_adam_destroy(adam);
    frnn_adam_destroy(adam2);
}

/* ---- frnn_dense ---- */

static void run_dense(const fx_case *c, const double *m) {
    size_t i = (size_t)m[1], o = (size_t)m[2], n = (size_t)m[3];
    float *x = fx_floats(c, "x", n * i), *dy = fx_floats(c, "dy", n * o);
    float *w = fx_floats(c, "w", o * i), *b = fx_floats(c, "b", o);
    float *y = alloc_fill(n * o, NAN), *dx = alloc_fill(n * i, NAN);
    float *dw = alloc_fill(o * i, NAN), *db = alloc_fill(o, NAN);
    float *gw = alloc_fill(o * i, NAN), *gb = alloc_fill(o, NAN);

    frnn_dense *d = NULL;
    CHECK_OK(frnn_dense_create(i, o, (uint64_t)m[4], &d));
    size_t gi = 0, go = 0;
    CHECK_OK(frnn_dense_get_sizes(d, &gi, &go));
    CHECK(gi == i && go == o);
    CHECK_OK(frnn_dense_get_weights(d, gw, o * i, gb, o));
    CHECK_SAME(c, "w", gw, o * i);
    CHECK_SAME(c, "b", gb, o);
    CHECK_OK(frnn_dense_forward(d, n, x, n * i, y, n * o));
    CHECK_SAME(c, "y", y, n * o);
    /* Overwrite ignores the NaNs in dw, db; accumulate adds to what is there. */
    CHECK_OK(frnn_dense_backward(d, n, x, n * i, dy, n * o, dx, n * i, dw, o * i, db, o,
                                 FRNN_GRAD_MODE_OVERWRITE));
    CHECK_SAME(c, "dx", dx, n * i);
    CHECK_SAME(c, "dw", dw, o * i);
    CHECK_SAME(c, "db", db, o);
    CHECK_OK(frnn_dense_backward(d, n, x, n * i, dy, n * o, NULL, 0, dw, o * i, db, o,
                                 FRNN_GRAD_MODE_ACCUMULATE));
    CHECK_SAME(c, "dw2", dw, o * i);
    CHECK_SAME(c, "db2", db, o);
    frnn_dense_destroy(d);

    /* From parts: the same head. */
    d = NULL;
    CHECK_OK(frnn_dense_create_from_parts(i, o, w, o * i, b, o, &d));
    memset(y, 0xff, n * o * sizeof(float));
    CHECK_OK(frnn_dense_forward(d, n, x, n * i, y, n * o));
    CHECK_SAME(c, "y", y, n * o);
    frnn_dense_destroy(d);

    /* Zeros, then the weights set. */
    d = NULL;
    CHECK_OK(frnn_dense_create_zeros(i, o, &d));
    CHECK_OK(frnn_dense_get_weights(d, gw, o * i, NULL, 0));
    CHECK(all_equal(gw, o * i, 0.0f));
    CHECK_OK(frnn_dense_forward(d, n, x, n * i, y, n * o));
    CHECK(all_equal(y, n * o, 0.0f));
    CHECK_OK(frnn_dense_set_weights(d, w, o * i, b, o));
    CHECK_OK(frnn_dense_forward(d, n, x, n * i, y, n * o));
    CHECK_SAME(c, "y", y, n * o);
    frnn_dense_destroy(d);

    float *bufs[] = {x, dy, w, b, y, dx, dw, db, gw, gb};
    for (size_t k = 0; k < sizeof bufs / sizeof bufs[0]; k++) free(bufs[k]);
}

/* ---- frnn_adam ---- */

#define NBUF 3

static void run_adam(const fx_case *c, const double *m) {
    float lr = (float)m[1], lr2 = (float)m[5];
    size_t steps = (size_t)m[6];
    size_t len[NBUF];
    float *p[NBUF], *g[NBUF];
    char name[40];
    for (int k = 0; k < NBUF; k++) {
        snprintf(name, sizeof name, "p0.%d", k);
        len[k] = fx_find(c, name)->len;
        p[k] = len[k] ? fx_floats(c, name, len[k]) : NULL;
    }
    CHECK(len[1] == 0);
    frnn_adam *adam = NULL;
    CHECK_OK(frnn_adam_create(lr, &adam));
    CHECK_OK(frnn_adam_set_betas(adam, (float)m[2], (float)m[3]));
    CHECK_OK(frnn_adam_set_eps(adam, (float)m[4]));
    float got_lr = NAN;
    CHECK_OK(frnn_adam_get_lr(adam, &got_lr));
    CHECK(got_lr == lr);
    for (size_t s = 0; s < steps; s++) {
        frnn_buffer pb[NBUF];
        frnn_const_buffer gb[NBUF];
        for (int k = 0; k < NBUF; k++) {
            snprintf(name, sizeof name, "g.%zu.%d", s, k);
            g[k] = len[k] ? fx_floats(c, name, len[k]) : NULL;
            pb[k] = (frnn_buffer){p[k], len[k]};
            gb[k] = (frnn_const_buffer){g[k], len[k]};
        }
        CHECK_OK(frnn_adam_step(adam, pb, NBUF, gb, NBUF));
        if (s == 0) {
            CHECK_OK(frnn_adam_set_lr(adam, lr2));
            CHECK_OK(frnn_adam_get_lr(adam, &got_lr));
            CHECK(got_lr == lr2);
        }
        for (int k = 0; k < NBUF; k++) {
            snprintf(name, sizeof name, "p.%zu.%d", s, k);
            if (len[k]) CHECK_SAME(c, name, p[k], len[k]);
            free(g[k]);
        }
    }
    uint64_t n = 0;
    CHECK_OK(frnn_adam_get_steps(adam, &n));
    CHECK(n == steps);
    /* After a reset the next step may take other buffers. */
    CHECK_OK(frnn_adam_reset(adam));
    CHECK_OK(frnn_adam_get_steps(adam, &n));
    CHECK(n == 0);
    float q = 1.0f, dq = 0.5f;
    frnn_buffer qb = {&q, 1};
    frnn_const_buffer dqb = {&dq, 1};
    CHECK_OK(frnn_adam_step(adam, &qb, 1, &dqb, 1));
    /* The first step moves by lr against the gradient's sign (up to eps). */
    CHECK(fabsf(q - (1.0f - lr2)) < 1e-5f);
    CHECK_OK(frnn_adam_get_steps(adam, &n));
    CHECK(n == 1);
    frnn_adam_destroy(adam);
    for (int k = 0; k < NBUF; k++) free(p[k]);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: train FIXTURE\n");
        return 2;
    }
    fixture *fx = fx_load(argv[1]);
    for (size_t k = 0; k < fx->n_cases; k++) {
        const fx_case *c = &fx->cases[k];
        int before = g_failures;
        const fx_array *meta = fx_find(c, "meta");
        switch ((int)meta->v[0]) {
        case K_SEQ2VEC:
            run_model(c, fx_get(c, "meta", M_COUNT)->v);
            break;
        case K_DENSE:
            run_dense(c, fx_get(c, "meta", 5)->v);
            break;
        case K_ADAM:
            run_adam(c, fx_get(c, "meta", 7)->v);
            break;
        default:
            fx_fail("unknown case kind");
        }
        if (g_failures != before) fprintf(stderr, "  (in case %zu)\n", k);
    }
    size_t n = fx->n_cases;
    fx_free(fx);
    if (g_failures) {
        fprintf(stderr, "train: %d failures\n", g_failures);
        return 1;
    }
    printf("train: %zu cases OK\n", n);
    return 0;
}
