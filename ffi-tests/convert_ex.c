/* ONNX conversions with extra weights through the C ABI, against values the Rust API
 * produced (tests/ffi_convert.rs writes the fixture), bit for bit:
 * - frnn_convert_onnx_sizes, frnn_convert_to_onnx_ex (P from the peepholes, zeros without),
 *   frnn_convert_from_onnx_ex (the peepholes back into frnn_extra_weights_mut);
 * - the plain calls keep working for layers without extras and refuse those with peepholes;
 * - what ONNX and Keras cannot hold: exact statuses and messages, nothing written.
 *
 * usage: convert_ex FIXTURE */
#include "common.h"

enum { M_DIRS, M_PEEP, M_CLIP, M_FGT, M_COUNT };
enum { I = 3, H = 4, G = 4 };

static void fill_const(float *p, size_t n, float v) {
    for (size_t k = 0; k < n; k++) p[k] = v;
}

static const char *const WN[4] = {"w_ih", "w_hh", "b_ih", "b_hh"};
static const size_t WLEN[4] = {G * H * I, G * H * H, G * H, G * H};

static void run_case(const fx_case *c, const double *m) {
    size_t dirs = (size_t)m[M_DIRS];
    int peep = m[M_PEEP] != 0;
    frnn_layer_desc d = {0};
    d.cell = FRNN_CELL_LSTM;
    d.input_size = I;
    d.hidden_size = H;
    if (peep) CHECK_OK(frnn_layer_desc_set_peepholes(&d, 1));
    if (m[M_CLIP] != 0) CHECK_OK(frnn_layer_desc_set_clip(&d, (float)m[M_CLIP]));
    if (m[M_FGT] != 0) CHECK_OK(frnn_layer_desc_set_input_forget(&d, 1));

    size_t wl = 0, rl = 0, bl = 0, pl = 0;
    CHECK_OK(frnn_convert_onnx_sizes(&d, dirs, &wl, &rl, &bl, &pl));
    CHECK(wl == dirs * G * H * I && rl == dirs * G * H * H && bl == dirs * 2 * G * H &&
          pl == dirs * 3 * H);

    /* The weights, read from the fixture. */
    float *w[2][4], *pp[2] = {NULL, NULL};
    frnn_weights cw[2];
    frnn_extra_weights ce[2];
    memset(ce, 0, sizeof ce);
    char name[80];
    for (size_t k = 0; k < dirs; k++) {
        for (int j = 0; j < 4; j++) {
            snprintf(name, sizeof name, "%s.%zu", WN[j], k);
            w[k][j] = fx_floats(c, name, WLEN[j]);
        }
        cw[k] = (frnn_weights){{w[k][0], WLEN[0]}, {w[k][1], WLEN[1]}, {w[k][2], WLEN[2]},
                               {w[k][3], WLEN[3]}};
        if (peep) {
            snprintf(name, sizeof name, "peep.%zu", k);
            pp[k] = fx_floats(c, name, 3 * H);
            ce[k].peepholes = (frnn_const_buffer){pp[k], 3 * H};
        }
    }

    /* To ONNX: W, R, B and P. */
    float *ow = alloc_fill(wl, NAN), *orr = alloc_fill(rl, NAN), *ob = alloc_fill(bl, NAN),
          *op = alloc_fill(pl, NAN);
    CHECK_OK(frnn_convert_to_onnx_ex(&d, cw, dirs, peep ? ce : NULL, peep ? dirs : 0, ow, wl, orr,
                                     rl, ob, bl, op, pl));
    CHECK_SAME(c, "W", ow, wl);
    CHECK_SAME(c, "R", orr, rl);
    CHECK_SAME(c, "B", ob, bl);
    CHECK_SAME(c, "P", op, pl);
    if (!peep) {
        /* The plain call gives the same W, R, B. */
        memset(ow, 0xff, wl * sizeof *ow);
        CHECK_OK(frnn_convert_to_onnx(&d, cw, dirs, ow, wl, orr, rl, ob, bl));
        CHECK_SAME(c, "W", ow, wl);
    } else {
        /* A layer with peepholes cannot be read without them. */
        float *w2 = alloc_fill(wl, NAN);
        CHECK_STATUS(frnn_convert_to_onnx(&d, cw, dirs, w2, wl, orr, rl, ob, bl),
                     FRNN_STATUS_MISSING_ARGUMENT);
        CHECK_MSG("extra[0].peepholes: required but missing");
        CHECK(all_equal(w2, wl, NAN));
        /* A wrong P length writes nothing. */
        CHECK_STATUS(frnn_convert_to_onnx_ex(&d, cw, dirs, ce, dirs, w2, wl, orr, rl, ob, bl, op,
                                             pl - 1),
                     FRNN_STATUS_LENGTH_MISMATCH);
        CHECK(all_equal(w2, wl, NAN));
        if (dirs == 2) {
            CHECK_STATUS(frnn_convert_to_onnx_ex(&d, cw, dirs, ce, 1, w2, wl, orr, rl, ob, bl, op,
                                                 pl),
                         FRNN_STATUS_LENGTH_MISMATCH);
            CHECK_MSG("extra: expected 2 elements, got 1");
        }
        free(w2);
    }

    /* From ONNX: every buffer back, peepholes in ours order. */
    float *g[2][4], *gp[2] = {NULL, NULL};
    frnn_weights_mut gw[2];
    frnn_extra_weights_mut ge[2];
    memset(ge, 0, sizeof ge);
    for (size_t k = 0; k < dirs; k++) {
        for (int j = 0; j < 4; j++) g[k][j] = alloc_fill(WLEN[j], NAN);
        gw[k] = (frnn_weights_mut){{g[k][0], WLEN[0]}, {g[k][1], WLEN[1]}, {g[k][2], WLEN[2]},
                                   {g[k][3], WLEN[3]}};
        if (peep) {
            gp[k] = alloc_fill(3 * H, NAN);
            ge[k].peepholes = (frnn_buffer){gp[k], 3 * H};
        }
    }
    float *fw = fx_floats(c, "W", wl), *fr = fx_floats(c, "R", rl), *fb = fx_floats(c, "B", bl),
          *fp = fx_floats(c, "P", pl);
    if (peep) {
        /* Without somewhere to put the peepholes: refused, nothing written. */
        CHECK_STATUS(frnn_convert_from_onnx(&d, dirs, fw, wl, fr, rl, fb, bl, fp, pl, gw, dirs),
                     FRNN_STATUS_MISSING_ARGUMENT);
        CHECK_MSG("out_extra[0].peepholes: required but missing");
        CHECK(all_equal(g[0][0], WLEN[0], NAN));
        ge[dirs - 1].peepholes.len = 3 * H + 1;
        CHECK_STATUS(frnn_convert_from_onnx_ex(&d, dirs, fw, wl, fr, rl, fb, bl, fp, pl, gw, dirs,
                                               ge, dirs),
                     FRNN_STATUS_LENGTH_MISMATCH);
        snprintf(name, sizeof name, "out_extra[%zu].peepholes: expected 12 elements, got 13",
                 dirs - 1);
        CHECK_MSG(name);
        CHECK(all_equal(g[0][0], WLEN[0], NAN) && all_equal(gp[0], 3 * H, NAN));
        ge[dirs - 1].peepholes.len = 3 * H;
    } else {
        /* Peepholes for a layer without: refused. */
        float spare[3 * H];
        frnn_extra_weights_mut bad[2];
        memset(bad, 0, sizeof bad);
        bad[0].peepholes = (frnn_buffer){spare, 3 * H};
        CHECK_STATUS(frnn_convert_from_onnx_ex(&d, dirs, fw, wl, fr, rl, fb, bl, fp, pl, gw, dirs,
                                               bad, dirs),
                     FRNN_STATUS_UNEXPECTED_ARGUMENT);
        CHECK_MSG("out_extra[0].peepholes: not taken by this layer");
        CHECK(all_equal(g[0][0], WLEN[0], NAN));
    }
    CHECK_OK(frnn_convert_from_onnx_ex(&d, dirs, fw, wl, fr, rl, fb, bl, fp, pl, gw, dirs,
                                       peep ? ge : NULL, peep ? dirs : 0));
    for (size_t k = 0; k < dirs; k++) {
        for (int j = 0; j < 4; j++) {
            snprintf(name, sizeof name, "%s.%zu", WN[j], k);
            CHECK_SAME(c, name, g[k][j], WLEN[j]);
        }
        if (peep) {
            snprintf(name, sizeof name, "peep.%zu", k);
            CHECK_SAME(c, name, gp[k], 3 * H);
        }
    }
    /* A layer made from the converted weights holds them (get_weights_ex reads them back). */
    if (dirs == 1) {
        frnn_layer *layer = NULL;
        frnn_weights lw = {{g[0][0], WLEN[0]}, {g[0][1], WLEN[1]}, {g[0][2], WLEN[2]},
                           {g[0][3], WLEN[3]}};
        frnn_extra_weights le = {{NULL, 0}, {gp[0], peep ? 3 * H : 0}, {NULL, 0}};
        CHECK_OK(frnn_layer_create_ex(&d, &lw, &le, &layer));
        float back[3 * H];
        frnn_extra_weights_mut lb = {{NULL, 0}, {peep ? back : NULL, peep ? 3 * H : 0}, {NULL, 0}};
        CHECK_OK(frnn_layer_get_weights_ex(layer, NULL, &lb));
        if (peep) CHECK_SAME(c, "peep.0", back, 3 * H);
        frnn_layer_destroy(layer);
    }

    for (size_t k = 0; k < dirs; k++) {
        for (int j = 0; j < 4; j++) {
            free(w[k][j]);
            free(g[k][j]);
        }
        free(pp[k]);
        free(gp[k]);
    }
    free(ow);
    free(orr);
    free(ob);
    free(op);
    free(fw);
    free(fr);
    free(fb);
    free(fp);
}

/* What ONNX and Keras cannot hold. */
static void unsupported(void) {
    size_t a = 7, b = 7, c = 7, p = 7;
    frnn_layer_desc d = {0};
    d.cell = FRNN_CELL_LSTM;
    d.input_size = I;
    d.hidden_size = H;
    frnn_layer_desc proj = d, ln = d, cclip = d, peep = d, gru = d;
    CHECK_OK(frnn_layer_desc_set_proj_size(&proj, 2));
    CHECK_OK(frnn_layer_desc_set_layer_norm(&ln, 1));
    CHECK_OK(frnn_layer_desc_set_cell_clip(&cclip, 1.0f));
    CHECK_OK(frnn_layer_desc_set_peepholes(&peep, 1));
    gru.cell = FRNN_CELL_GRU;

    CHECK_STATUS(frnn_convert_onnx_sizes(&proj, 1, &a, &b, &c, &p), FRNN_STATUS_INVALID_VALUE);
    CHECK_MSG("desc: ONNX's LSTM has no projection");
    CHECK_STATUS(frnn_convert_onnx_sizes(&ln, 1, &a, &b, &c, &p), FRNN_STATUS_INVALID_VALUE);
    CHECK_MSG("desc: ONNX's operators have no layer normalization");
    CHECK(a == 7 && b == 7 && c == 7 && p == 7);
    CHECK_OK(frnn_convert_onnx_sizes(&cclip, 1, &a, &b, &c, &p));

    static float wih[G * H * I], whh[G * H * H], bias[G * H], whr[2 * H], pp[3 * H], lnp[18 * H];
    static float ow[G * H * I], orr[G * H * H], ob1[G * H], ob2[G * H], op[3 * H];
    fill_const(ow, G * H * I, NAN);
    frnn_weights cw = {{wih, G * H * I}, {whh, G * H * H}, {bias, G * H}, {bias, G * H}};
    /* A projection: W_hh is [4H, P]. */
    frnn_weights pw = {{wih, G * H * I}, {whh, G * H * 2}, {bias, G * H}, {bias, G * H}};
    frnn_extra_weights pe = {{whr, 2 * H}, {NULL, 0}, {NULL, 0}};
    CHECK_STATUS(frnn_convert_to_onnx_ex(&proj, &pw, 1, &pe, 1, ow, G * H * I, orr, G * H * 2,
                                         NULL, 0, NULL, 0),
                 FRNN_STATUS_INVALID_VALUE);
    CHECK_MSG("desc: ONNX's LSTM has no projection");
    frnn_extra_weights le = {{NULL, 0}, {NULL, 0}, {lnp, 18 * H}};
    CHECK_STATUS(frnn_convert_to_onnx_ex(&ln, &cw, 1, &le, 1, ow, G * H * I, orr, G * H * H, NULL,
                                         0, NULL, 0),
                 FRNN_STATUS_INVALID_VALUE);
    CHECK_MSG("desc: ONNX's operators have no layer normalization");
    CHECK_STATUS(frnn_convert_to_onnx_ex(&cclip, &cw, 1, NULL, 0, ow, G * H * I, orr, G * H * H,
                                         NULL, 0, NULL, 0),
                 FRNN_STATUS_INVALID_VALUE);
    CHECK_MSG("weights: ONNX's LSTM has no cell-state clipping");
    CHECK(all_equal(ow, G * H * I, NAN));
    frnn_weights_mut gw = {{ow, G * H * I}, {orr, G * H * H}, {ob1, G * H}, {ob2, G * H}};
    CHECK_STATUS(frnn_convert_from_onnx_ex(&ln, 1, wih, G * H * I, whh, G * H * H, NULL, 0, NULL,
                                           0, &gw, 1, NULL, 0),
                 FRNN_STATUS_INVALID_VALUE);
    CHECK_MSG("desc: ONNX's operators have no layer normalization");
    CHECK(all_equal(ow, G * H * I, NAN));
    /* P for a GRU: refused either way. */
    static float gw_[3 * H * I], gr_[3 * H * H];
    fill_const(op, 3 * H, NAN);
    frnn_weights gcw = {{gw_, 3 * H * I}, {gr_, 3 * H * H}, {bias, 3 * H}, {bias, 3 * H}};
    CHECK_STATUS(frnn_convert_to_onnx_ex(&gru, &gcw, 1, NULL, 0, ow, 3 * H * I, orr, 3 * H * H,
                                         NULL, 0, op, 3 * H),
                 FRNN_STATUS_UNEXPECTED_ARGUMENT);
    CHECK_MSG("P: not taken by this layer");
    CHECK(all_equal(op, 3 * H, NAN));
    /* Non-zero P for a layer without peepholes. */
    fill_const(pp, 3 * H, 0.5f);
    CHECK_STATUS(frnn_convert_from_onnx_ex(&d, 1, wih, G * H * I, whh, G * H * H, NULL, 0, pp,
                                           3 * H, &gw, 1, NULL, 0),
                 FRNN_STATUS_INVALID_VALUE);
    CHECK_MSG("P: non-zero peepholes need a LayerDesc with_peepholes()");
    CHECK(all_equal(ow, G * H * I, NAN));

    /* Keras has none of the options. */
    frnn_layer_desc *no_keras[4] = {&proj, &ln, &cclip, &peep};
    for (int k = 0; k < 4; k++) {
        a = b = c = 7;
        CHECK_STATUS(frnn_convert_keras_sizes(no_keras[k], &a, &b, &c), FRNN_STATUS_INVALID_VALUE);
        CHECK_MSG("desc: Keras layers have no projection, peepholes, clipping, input_forget or "
                  "layer norm");
        CHECK(a == 7 && b == 7 && c == 7);
    }
    CHECK_STATUS(frnn_convert_to_keras(&peep, &cw, ow, G * H * I, orr, G * H * H, NULL, 0),
                 FRNN_STATUS_INVALID_VALUE);
    CHECK_MSG("desc: Keras layers have no projection, peepholes, clipping, input_forget or "
              "layer norm");
    CHECK_STATUS(frnn_convert_from_keras(&ln, wih, G * H * I, whh, G * H * H, NULL, 0, &gw),
                 FRNN_STATUS_INVALID_VALUE);
    CHECK(all_equal(ow, G * H * I, NAN));
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: convert_ex FIXTURE\n");
        return 2;
    }
    fixture *fx = fx_load(argv[1]);
    for (size_t k = 0; k < fx->n_cases; k++) {
        const fx_case *c = &fx->cases[k];
        int before = g_failures;
        run_case(c, fx_get(c, "meta", M_COUNT)->v);
        if (g_failures != before) fprintf(stderr, "  (in case %zu)\n", k);
    }
    unsupported();
    size_t n = fx->n_cases;
    fx_free(fx);
    if (g_failures) {
        fprintf(stderr, "convert_ex: %d failures\n", g_failures);
        return 1;
    }
    printf("convert_ex: %zu cases OK\n", n);
    return 0;
}
