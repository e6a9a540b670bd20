/* LSTM options, layer normalization and dropout through the C ABI, against values the Rust
 * API produced (tests/ffi_options.rs writes the fixture), bit for bit:
 * - descriptors built with the frnn_{layer,stack}_desc_set_* calls, read back by get_desc;
 * - the extra weight lengths (W_hr, peepholes, layer-norm parameters), create_ex with them,
 *   get_weights_ex and set_weights_ex round trips;
 * - inference, training forward with a recurrent mask drawn by frnn_dropout_mask (layers)
 *   or with dropout from a seed (stacks; the masks read back), backward with every gradient
 *   (dW_hr, dpeepholes, dlayer_norm included), and accumulation;
 * - input dropout: a layer's input mask (and lengths) in frnn_forward_options_ex through the
 *   *_opts_ex calls, a stack's input masks drawn by frnn_stack_forward_train_dropout_ex and
 *   read back (FRNN_MASK_KIND_INPUT); stack inference through frnn_stack_forward_opts.
 *
 * usage: options FIXTURE */
#include "common.h"

#define MAXK 8
/* An optional output: NULL (length 0) when its length is 0. */
#define OPT(p, len) ((len) ? (p) : NULL), (len)

enum { M_PROJ, M_PEEP, M_FGT, M_LN, M_CLIP, M_CCLIP, M_LAYERS, M_DIR, M_BF, M_DROP, M_RDROP,
       M_SEED, M_MASK_P, M_MASK_SEED, M_IDROP, M_IMASK_P, M_IMASK_SEED, M_VARLEN, M_COUNT };

static const char *const WN[7] = {"w_ih", "w_hh", "b_ih", "b_hh", "w_hr", "peep", "ln"};
static const char *const DWN[7] = {"dw_ih", "dw_hh", "db_ih", "db_hh", "dw_hr", "dpeep", "dln"};

/* The seven buffers of one layer-direction: lengths (0: absent) and data. */
typedef struct {
    size_t len[7];
    float *w[7];
} set_t;

static void load_set(const fx_case *c, const char *const names[7], size_t k, set_t *s, int fill) {
    char name[40];
    for (int j = 0; j < 7; j++) {
        s->w[j] = NULL;
        if (!s->len[j]) continue;
        snprintf(name, sizeof name, "%s.%zu", names[j], k);
        s->w[j] = fill ? alloc_fill(s->len[j], NAN) : fx_floats(c, name, s->len[j]);
    }
}

static void free_set(set_t *s) {
    for (int j = 0; j < 7; j++) free(s->w[j]);
}

static void check_set(const fx_case *c, const char *const names[7], size_t k, const set_t *s) {
    char name[40];
    for (int j = 0; j < 7; j++) {
        if (!s->len[j]) continue;
        snprintf(name, sizeof name, "%s.%zu", names[j], k);
        CHECK_SAME(c, name, s->w[j], s->len[j]);
    }
}

#define CB(s, j) ((frnn_const_buffer){(s)->w[j], (s)->len[j]})
#define MB(s, j) ((frnn_buffer){(s)->w[j], (s)->len[j]})

static frnn_weights cweights(const set_t *s) {
    frnn_weights w = {CB(s, 0), CB(s, 1), CB(s, 2), CB(s, 3)};
    return w;
}
static frnn_extra_weights cextra(const set_t *s) {
    frnn_extra_weights e = {CB(s, 4), CB(s, 5), CB(s, 6)};
    return e;
}
static frnn_weights_mut mweights(const set_t *s) {
    frnn_weights_mut w = {MB(s, 0), MB(s, 1), MB(s, 2), MB(s, 3)};
    return w;
}
static frnn_extra_weights_mut mextra(const set_t *s) {
    frnn_extra_weights_mut e = {MB(s, 4), MB(s, 5), MB(s, 6)};
    return e;
}

/* The options the fixture asks for, set through the descriptor setters of `which`. */
#define APPLY_OPTIONS(prefix, d, m)                                                        \
    do {                                                                                   \
        if ((m)[M_LN] != 0) CHECK_OK(prefix##_set_layer_norm(d, 1));                       \
        if ((m)[M_PROJ] != 0) CHECK_OK(prefix##_set_proj_size(d, (size_t)(m)[M_PROJ]));    \
        if ((m)[M_PEEP] != 0) CHECK_OK(prefix##_set_peepholes(d, 1));                      \
        if ((m)[M_FGT] != 0) CHECK_OK(prefix##_set_input_forget(d, 1));                    \
        if ((m)[M_CLIP] != 0) CHECK_OK(prefix##_set_clip(d, (float)(m)[M_CLIP]));          \
        if ((m)[M_CCLIP] != 0) CHECK_OK(prefix##_set_cell_clip(d, (float)(m)[M_CCLIP]));   \
    } while (0)

static void check_options(const frnn_cell_options *o, const double *m) {
    CHECK(o->proj_size == (size_t)m[M_PROJ]);
    CHECK(o->peepholes == (uint32_t)m[M_PEEP]);
    CHECK(o->input_forget == (uint32_t)m[M_FGT]);
    CHECK(o->layer_norm == (uint32_t)m[M_LN]);
    CHECK(o->clip == (float)m[M_CLIP]);
    CHECK(o->cell_clip == (float)m[M_CCLIP]);
}

/* The expected extra lengths of a layer with `h` units and options `m`. */
static void check_extra_lens(const size_t *len, size_t h, unsigned cell, const double *m) {
    CHECK(len[4] == (size_t)m[M_PROJ] * h);
    CHECK(len[5] == (m[M_PEEP] != 0 ? 3 * h : 0));
    CHECK(len[6] == (m[M_LN] == 0 ? 0 : cell == FRNN_CELL_LSTM ? 18 * h : 12 * h));
}

/* The sequence buffers of a case (states sized by the caller). */
typedef struct {
    float *x, *h0, *c0, *dy, *dh_n, *dc_n;
    size_t nx, ny, nh, nc;
} seq_t;

static void load_seq(const fx_case *c, seq_t *s, int lstm) {
    s->x = fx_floats(c, "x", s->nx);
    s->h0 = fx_floats(c, "h0", s->nh);
    s->dy = fx_floats(c, "dy", s->ny);
    s->dh_n = fx_floats(c, "dh_n", s->nh);
    s->c0 = lstm ? fx_floats(c, "c0", s->nc) : NULL;
    s->dc_n = lstm ? fx_floats(c, "dc_n", s->nc) : NULL;
    if (!lstm) s->nc = 0;
}

static void free_seq(seq_t *s) {
    free(s->x);
    free(s->h0);
    free(s->c0);
    free(s->dy);
    free(s->dh_n);
    free(s->dc_n);
}

static void run_layer(const fx_case *c, const double *m) {
    int lstm = c->cell == FRNN_CELL_LSTM;
    frnn_layer_desc d = {0};
    d.cell = c->cell;
    d.gru_variant = c->variant;
    d.input_size = c->i;
    d.hidden_size = c->h;
    APPLY_OPTIONS(frnn_layer_desc, &d, m);
    check_options(&d.options, m);
    set_t w, g;
    CHECK_OK(frnn_desc_weight_lens(&d, &w.len[0], &w.len[1], &w.len[2]));
    w.len[3] = w.len[2];
    CHECK_OK(frnn_desc_extra_weight_lens(&d, &w.len[4], &w.len[5], &w.len[6]));
    size_t p = m[M_PROJ] != 0 ? (size_t)m[M_PROJ] : c->h;
    CHECK(w.len[1] == 4 * c->h * p || !lstm);
    check_extra_lens(w.len, c->h, c->cell, m);
    load_set(c, WN, 0, &w, 0);
    frnn_weights cw = cweights(&w);
    frnn_extra_weights ce = cextra(&w);
    frnn_layer *layer = NULL;
    CHECK_OK(frnn_layer_create_ex(&d, &cw, &ce, &layer));
    if (!layer) return;
    frnn_layer_desc back;
    CHECK_OK(frnn_layer_get_desc(layer, &back));
    check_options(&back.options, m);
    CHECK(back.cell == d.cell && back.input_size == d.input_size && back.hidden_size == d.hidden_size);

    memcpy(g.len, w.len, sizeof g.len);
    load_set(c, WN, 0, &g, 1);
    frnn_weights_mut gw = mweights(&g);
    frnn_extra_weights_mut ge = mextra(&g);
    CHECK_OK(frnn_layer_get_weights_ex(layer, &gw, &ge));
    check_set(c, WN, 0, &g);

    /* set_weights_ex into another layer of the same descriptor. */
    frnn_layer *other = NULL;
    CHECK_OK(frnn_layer_create_uniform(&d, 3, &other));
    CHECK_OK(frnn_layer_set_weights_ex(other, &cw, &ce));
    for (int j = 0; j < 7; j++)
        if (g.len[j]) g.w[j][0] = NAN;
    CHECK_OK(frnn_layer_get_weights_ex(other, &gw, &ge));
    check_set(c, WN, 0, &g);

    seq_t s = {0};
    s.nx = c->t * c->n * c->i;
    s.ny = c->t * c->n * p;
    s.nh = c->n * p;
    s.nc = c->n * c->h;
    load_seq(c, &s, lstm);
    float *y = alloc_fill(s.ny, NAN), *hn = alloc_fill(s.nh, NAN), *cn = alloc_fill(s.nc, NAN);
    /* Variable lengths and input masks go through frnn_forward_options_ex. */
    int use_ex = m[M_VARLEN] != 0 || m[M_IMASK_P] != 0;
    frnn_forward_options_ex ox;
    memset(&ox, 0x5a, sizeof ox);
    CHECK_OK(frnn_forward_options_ex_init(&ox));
    CHECK(ox.struct_size == sizeof ox && ox.lengths == NULL && ox.lengths_len == 0 &&
          ox.recurrent_mask == NULL && ox.input_mask == NULL && ox.input_mask_len == 0);
    size_t *lengths = NULL;
    if (m[M_VARLEN] != 0) {
        const fx_array *la = fx_get(c, "lengths", c->n);
        lengths = (size_t *)xmalloc(c->n * sizeof(size_t));
        for (size_t b = 0; b < c->n; b++) lengths[b] = (size_t)la->v[b];
        ox.lengths = lengths;
        ox.lengths_len = c->n;
    }
    const frnn_layer *layers[2] = {layer, other};
    for (int k = 0; k < 2; k++) {
        if (use_ex)
            CHECK_OK(frnn_layer_forward_opts_ex(layers[k], c->t, c->n, &ox, s.x, s.nx, s.h0, s.nh,
                                                s.c0, s.nc, y, s.ny, NULL, 0, NULL, 0));
        else
            CHECK_OK(frnn_layer_forward_opts(layers[k], c->t, c->n, NULL, s.x, s.nx, s.h0, s.nh,
                                             s.c0, s.nc, y, s.ny, NULL, 0, NULL, 0));
        CHECK_SAME(c, "y_inf", y, s.ny);
    }

    /* The recurrent mask, drawn in C as Rust drew it. */
    frnn_forward_options opts = {0};
    float *mask = NULL, *imask = NULL;
    if (m[M_MASK_P] != 0) {
        mask = alloc_fill(s.nh, NAN);
        CHECK_OK(frnn_dropout_mask((float)m[M_MASK_P], (uint64_t)m[M_MASK_SEED], mask, s.nh));
        CHECK_SAME(c, "mask", mask, s.nh);
        opts.recurrent_mask = mask;
        opts.recurrent_mask_len = s.nh;
        ox.recurrent_mask = mask;
        ox.recurrent_mask_len = s.nh;
    }
    /* The input mask, [N, I], likewise. */
    size_t ni = c->n * c->i;
    if (m[M_IMASK_P] != 0) {
        imask = alloc_fill(ni, NAN);
        CHECK_OK(frnn_dropout_mask((float)m[M_IMASK_P], (uint64_t)m[M_IMASK_SEED], imask, ni));
        CHECK_SAME(c, "imask", imask, ni);
        ox.input_mask = imask;
        ox.input_mask_len = ni;
    }
    frnn_workspace *ws = NULL;
    CHECK_OK(frnn_workspace_create(&ws));
    if (use_ex)
        CHECK_OK(frnn_layer_forward_train_opts_ex(layer, ws, c->t, c->n, &ox, s.x, s.nx, s.h0,
                                                  s.nh, s.c0, s.nc, y, s.ny, hn, s.nh,
                                                  OPT(cn, s.nc)));
    else
        CHECK_OK(frnn_layer_forward_train_opts(layer, ws, c->t, c->n, &opts, s.x, s.nx, s.h0,
                                               s.nh, s.c0, s.nc, y, s.ny, hn, s.nh,
                                               OPT(cn, s.nc)));
    CHECK_SAME(c, "y", y, s.ny);
    CHECK_SAME(c, "h_n", hn, s.nh);
    if (lstm) CHECK_SAME(c, "c_n", cn, s.nc);

    float *dx = alloc_fill(s.nx, NAN), *dh0 = alloc_fill(s.nh, NAN), *dc0 = alloc_fill(s.nc, NAN);
    for (int j = 0; j < 7; j++) {
        g.len[j] = w.len[j];
        free(g.w[j]);
    }
    load_set(c, DWN, 0, &g, 1);
    gw = mweights(&g);
    ge = mextra(&g);
    CHECK_OK(frnn_layer_backward_ex(layer, ws, s.x, s.nx, s.dy, s.ny, s.dh_n, s.nh,
                                    s.dc_n, s.nc, dx, s.nx, dh0, s.nh, OPT(dc0, s.nc), &gw,
                                    &ge, FRNN_GRAD_MODE_OVERWRITE));
    CHECK_SAME(c, "dx", dx, s.nx);
    CHECK_SAME(c, "dh0", dh0, s.nh);
    if (lstm) CHECK_SAME(c, "dc0", dc0, s.nc);
    check_set(c, DWN, 0, &g);

    /* Data then weights, accumulating: twice the gradients. */
    if (use_ex)
        CHECK_OK(frnn_layer_forward_train_opts_ex(layer, ws, c->t, c->n, &ox, s.x, s.nx, s.h0,
                                                  s.nh, s.c0, s.nc, y, s.ny, NULL, 0, NULL, 0));
    else
        CHECK_OK(frnn_layer_forward_train_opts(layer, ws, c->t, c->n, &opts, s.x, s.nx, s.h0,
                                               s.nh, s.c0, s.nc, y, s.ny, NULL, 0, NULL, 0));
    CHECK_OK(frnn_layer_backward_data(layer, ws, s.dy, s.ny, s.dh_n, s.nh, s.dc_n, s.nc, NULL,
                                      0, NULL, 0, NULL, 0));
    CHECK_OK(frnn_layer_backward_weights_ex(layer, ws, s.x, s.nx, &gw, &ge,
                                            FRNN_GRAD_MODE_ACCUMULATE));
    char name[40];
    for (int j = 0; j < 7; j++) {
        if (!g.len[j]) continue;
        snprintf(name, sizeof name, "%s.0", DWN[j]);
        const fx_array *a = fx_get(c, name, g.len[j]);
        double *twice = (double *)xmalloc(g.len[j] * sizeof(double));
        for (size_t k = 0; k < g.len[j]; k++) twice[k] = 2.0 * (double)(float)a->v[k];
        CHECK_CLOSE(name, g.w[j], twice, g.len[j]);
        free(twice);
    }

    free(mask);
    free(imask);
    free(lengths);
    free(y);
    free(hn);
    free(cn);
    free(dx);
    free(dh0);
    free(dc0);
    free_seq(&s);
    free_set(&w);
    free_set(&g);
    frnn_workspace_destroy(ws);
    frnn_layer_destroy(layer);
    frnn_layer_destroy(other);
}

static void run_stack(const fx_case *c, const double *m) {
    int lstm = c->cell == FRNN_CELL_LSTM;
    frnn_stack_desc d = {0};
    d.cell = c->cell;
    d.gru_variant = c->variant;
    d.direction = (uint32_t)m[M_DIR];
    d.input_size = c->i;
    d.hidden_size = c->h;
    d.num_layers = (size_t)m[M_LAYERS];
    d.batch_first = (uint32_t)m[M_BF];
    APPLY_OPTIONS(frnn_stack_desc, &d, m);
    check_options(&d.options, m);
    size_t kc = 0, wo = 0;
    CHECK_OK(frnn_stack_desc_sizes(&d, &kc, &wo));
    CHECK(kc <= MAXK);
    size_t p = m[M_PROJ] != 0 ? (size_t)m[M_PROJ] : c->h;
    set_t w[MAXK], g[MAXK];
    frnn_weights cw[MAXK];
    frnn_extra_weights ce[MAXK];
    frnn_weights_mut gw[MAXK];
    frnn_extra_weights_mut ge[MAXK];
    for (size_t k = 0; k < kc; k++) {
        CHECK_OK(frnn_stack_desc_weight_lens(&d, k, &w[k].len[0], &w[k].len[1], &w[k].len[2]));
        w[k].len[3] = w[k].len[2];
        CHECK_OK(frnn_stack_desc_extra_weight_lens(&d, k, &w[k].len[4], &w[k].len[5],
                                                   &w[k].len[6]));
        check_extra_lens(w[k].len, c->h, c->cell, m);
        load_set(c, WN, k, &w[k], 0);
        cw[k] = cweights(&w[k]);
        ce[k] = cextra(&w[k]);
        memcpy(g[k].len, w[k].len, sizeof g[k].len);
        load_set(c, WN, k, &g[k], 1);
        gw[k] = mweights(&g[k]);
        ge[k] = mextra(&g[k]);
    }
    frnn_stack *st = NULL, *other = NULL;
    CHECK_OK(frnn_stack_create_ex(&d, cw, kc, ce, kc, &st));
    if (!st) return;
    frnn_stack_desc back;
    CHECK_OK(frnn_stack_get_desc(st, &back));
    check_options(&back.options, m);
    CHECK(back.num_layers == d.num_layers && back.direction == d.direction);
    CHECK_OK(frnn_stack_get_weights_ex(st, gw, kc, ge, kc));
    for (size_t k = 0; k < kc; k++) check_set(c, WN, k, &g[k]);
    CHECK_OK(frnn_stack_create_uniform(&d, 5, &other));
    CHECK_OK(frnn_stack_set_weights_ex(other, cw, kc, ce, kc));
    for (size_t k = 0; k < kc; k++)
        for (int j = 0; j < 7; j++)
            if (g[k].len[j]) g[k].w[j][0] = NAN;
    CHECK_OK(frnn_stack_get_weights_ex(other, gw, kc, ge, kc));
    for (size_t k = 0; k < kc; k++) check_set(c, WN, k, &g[k]);

    seq_t s = {0};
    s.nx = c->t * c->n * c->i;
    s.ny = c->t * c->n * wo;
    s.nh = kc * c->n * p;
    s.nc = kc * c->n * c->h;
    load_seq(c, &s, lstm);
    float *y = alloc_fill(s.ny, NAN), *hn = alloc_fill(s.nh, NAN), *cn = alloc_fill(s.nc, NAN);
    const frnn_stack *stacks[2] = {st, other};
    frnn_forward_options_ex ox;
    CHECK_OK(frnn_forward_options_ex_init(&ox));
    for (int k = 0; k < 2; k++) {
        CHECK_OK(frnn_stack_forward(stacks[k], c->t, c->n, s.x, s.nx, s.h0, s.nh, s.c0, s.nc, y,
                                    s.ny, NULL, 0, NULL, 0));
        CHECK_SAME(c, "y_inf", y, s.ny);
        /* The same through frnn_stack_forward_opts, with no options and with the defaults. */
        memset(y, 0xff, s.ny * sizeof *y);
        CHECK_OK(frnn_stack_forward_opts(stacks[k], c->t, c->n, k ? &ox : NULL, s.x, s.nx, s.h0,
                                         s.nh, s.c0, s.nc, y, s.ny, NULL, 0, NULL, 0));
        CHECK_SAME(c, "y_inf", y, s.ny);
    }
    frnn_stack_workspace *ws = NULL;
    CHECK_OK(frnn_stack_workspace_create(&ws));
    if (m[M_IDROP] != 0) {
        frnn_dropout dr = {0};
        dr.between_layers = (float)m[M_DROP];
        dr.recurrent = (float)m[M_RDROP];
        dr.input = (float)m[M_IDROP];
        CHECK_OK(frnn_stack_forward_train_dropout_ex(st, ws, c->t, c->n, &ox, &dr,
                                                     (uint64_t)m[M_SEED], s.x, s.nx, s.h0, s.nh,
                                                     s.c0, s.nc, y, s.ny, hn, s.nh,
                                                     OPT(cn, s.nc)));
    } else {
        CHECK_OK(frnn_stack_forward_train_dropout(st, ws, c->t, c->n, NULL, (float)m[M_DROP],
                                                  (float)m[M_RDROP], (uint64_t)m[M_SEED], s.x,
                                                  s.nx, s.h0, s.nh, s.c0, s.nc, y, s.ny, hn, s.nh,
                                                  OPT(cn, s.nc)));
    }
    CHECK_SAME(c, "y", y, s.ny);
    CHECK_SAME(c, "h_n", hn, s.nh);
    if (lstm) CHECK_SAME(c, "c_n", cn, s.nc);

    /* The masks drawn, read back. Input masks are [N, I] for layer 0 and [N, W] above, and
     * mask_count reports the first one's length. */
    const fx_array *counts = fx_get(c, "mask_counts", 3);
    const uint32_t kinds[3] = {FRNN_MASK_KIND_BETWEEN_LAYERS, FRNN_MASK_KIND_RECURRENT,
                               FRNN_MASK_KIND_INPUT};
    const char *const mnames[3] = {"bmask", "rmask", "imask"};
    const size_t want_len[3] = {c->t * c->n * wo, c->n * p, c->n * c->i};
    size_t dirs = kc / (size_t)m[M_LAYERS];
    for (int q = 0; q < 3; q++) {
        size_t count = 99, len = 99;
        CHECK_OK(frnn_stack_workspace_mask_count(ws, kinds[q], &count, &len));
        CHECK(count == (size_t)counts->v[q]);
        CHECK(len == (count ? want_len[q] : 0));
        for (size_t k = 0; k < count; k++) {
            size_t lk = q == 2 && k >= dirs ? c->n * wo : len;
            float *mk = alloc_fill(lk, NAN);
            char name[40];
            snprintf(name, sizeof name, "%s.%zu", mnames[q], k);
            CHECK_OK(frnn_stack_workspace_get_mask(ws, kinds[q], k, mk, lk));
            CHECK_SAME(c, name, mk, lk);
            free(mk);
        }
    }
    CHECK(counts->v[0] == (m[M_DROP] != 0 ? m[M_LAYERS] - 1 : 0));
    CHECK(counts->v[1] == (m[M_RDROP] != 0 ? (double)kc : 0));
    CHECK(counts->v[2] == (m[M_IDROP] != 0 ? (double)kc : 0));

    float *dx = alloc_fill(s.nx, NAN), *dh0 = alloc_fill(s.nh, NAN), *dc0 = alloc_fill(s.nc, NAN);
    for (size_t k = 0; k < kc; k++) {
        free_set(&g[k]);
        load_set(c, DWN, k, &g[k], 1);
        gw[k] = mweights(&g[k]);
        ge[k] = mextra(&g[k]);
    }
    int has_extra = w[0].len[4] || w[0].len[5] || w[0].len[6];
    CHECK_OK(frnn_stack_backward_ex(st, ws, s.dy, s.ny, s.dh_n, s.nh, s.dc_n, s.nc, dx, s.nx,
                                    dh0, s.nh, OPT(dc0, s.nc), gw, kc, has_extra ? ge : NULL,
                                    has_extra ? kc : 0, FRNN_GRAD_MODE_OVERWRITE));
    CHECK_SAME(c, "dx", dx, s.nx);
    CHECK_SAME(c, "dh0", dh0, s.nh);
    if (lstm) CHECK_SAME(c, "dc0", dc0, s.nc);
    for (size_t k = 0; k < kc; k++) check_set(c, DWN, k, &g[k]);

    /* A training forward without dropout leaves no masks. */
    CHECK_OK(frnn_stack_forward_train(st, ws, c->t, c->n, s.x, s.nx, s.h0, s.nh, s.c0, s.nc, y,
                                      s.ny, NULL, 0, NULL, 0));
    CHECK_SAME(c, "y_inf", y, s.ny);
    for (int q = 0; q < 3; q++) {
        size_t count = 99, len = 99;
        CHECK_OK(frnn_stack_workspace_mask_count(ws, kinds[q], &count, &len));
        CHECK(count == 0 && len == 0);
    }

    free(y);
    free(hn);
    free(cn);
    free(dx);
    free(dh0);
    free(dc0);
    free_seq(&s);
    for (size_t k = 0; k < kc; k++) {
        free_set(&w[k]);
        free_set(&g[k]);
    }
    frnn_stack_workspace_destroy(ws);
    frnn_stack_destroy(st);
    frnn_stack_destroy(other);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: options FIXTURE\n");
        return 2;
    }
    fixture *fx = fx_load(argv[1]);
    for (size_t k = 0; k < fx->n_cases; k++) {
        const fx_case *c = &fx->cases[k];
        const fx_array *meta = fx_get(c, "meta", M_COUNT);
        int before = g_failures;
        if (meta->v[M_LAYERS] == 0)
            run_layer(c, meta->v);
        else
            run_stack(c, meta->v);
        if (g_failures != before) fprintf(stderr, "  (in case %zu)\n", k);
    }
    size_t n = fx->n_cases;
    fx_free(fx);
    if (g_failures) {
        fprintf(stderr, "options: %d failures\n", g_failures);
        return 1;
    }
    printf("options: %zu cases OK\n", n);
    return 0;
}
