/* Bad input to the option, extra-weight and dropout calls of the C ABI: exact statuses and
 * messages, and nothing written on error (descriptors, out-parameters, output buffers,
 * weights). */
#include "common.h"

#define I 3
#define H 4
#define P 2
#define T 3
#define N 2

/* A sentinel handle value that an erroring create must leave alone. */
#define SENTINEL ((void *)(uintptr_t)0x1234)

static frnn_layer_desc lstm_desc(void) {
    frnn_layer_desc d = {0};
    d.cell = FRNN_CELL_LSTM;
    d.input_size = I;
    d.hidden_size = H;
    return d;
}

static int same_desc(const frnn_layer_desc *a, const frnn_layer_desc *b) {
    return a->cell == b->cell && a->gru_variant == b->gru_variant &&
           a->activation == b->activation && a->input_size == b->input_size &&
           a->hidden_size == b->hidden_size && a->options.proj_size == b->options.proj_size &&
           a->options.peepholes == b->options.peepholes &&
           a->options.input_forget == b->options.input_forget &&
           a->options.layer_norm == b->options.layer_norm && a->options.clip == b->options.clip &&
           a->options.cell_clip == b->options.cell_clip;
}

static void descriptor_setters(void) {
    frnn_layer_desc d = lstm_desc(), before;
#define REFUSED(call, status, msg)                                                         \
    do {                                                                                   \
        before = d;                                                                        \
        CHECK_STATUS(call, status);                                                        \
        CHECK_MSG(msg);                                                                    \
        CHECK(same_desc(&d, &before));                                                     \
    } while (0)
    REFUSED(frnn_layer_desc_set_proj_size(&d, 0), FRNN_STATUS_ZERO_SIZE,
            "proj_size must be at least 1");
    REFUSED(frnn_layer_desc_set_proj_size(&d, H), FRNN_STATUS_INVALID_VALUE,
            "proj_size: must be below hidden_size (as PyTorch requires)");
    REFUSED(frnn_layer_desc_set_proj_size(&d, H + 3), FRNN_STATUS_INVALID_VALUE,
            "proj_size: must be below hidden_size (as PyTorch requires)");
    REFUSED(frnn_layer_desc_set_clip(&d, 0.0f), FRNN_STATUS_INVALID_VALUE,
            "clip: must be positive and finite");
    REFUSED(frnn_layer_desc_set_clip(&d, -1.0f), FRNN_STATUS_INVALID_VALUE,
            "clip: must be positive and finite");
    REFUSED(frnn_layer_desc_set_clip(&d, NAN), FRNN_STATUS_INVALID_VALUE,
            "clip: must be positive and finite");
    REFUSED(frnn_layer_desc_set_cell_clip(&d, INFINITY), FRNN_STATUS_INVALID_VALUE,
            "cell_clip: must be positive and finite");
    REFUSED(frnn_layer_desc_set_peepholes(&d, 2), FRNN_STATUS_INVALID_VALUE,
            "enable: must be 0 or 1");
    REFUSED(frnn_layer_desc_set_layer_norm(&d, 7), FRNN_STATUS_INVALID_VALUE,
            "enable: must be 0 or 1");
    CHECK_STATUS(frnn_layer_desc_set_proj_size(NULL, 2), FRNN_STATUS_NULL_POINTER);
    CHECK_MSG("desc: NULL pointer");
    CHECK_STATUS(frnn_stack_desc_set_clip(NULL, 1.0f), FRNN_STATUS_NULL_POINTER);

    /* LSTM options on other cells; layer norm on an RNN and the reset-before-linear GRU. */
    d.cell = FRNN_CELL_GRU;
    REFUSED(frnn_layer_desc_set_peepholes(&d, 1), FRNN_STATUS_INVALID_VALUE,
            "peepholes: an LSTM option; this layer is not an LSTM");
    REFUSED(frnn_layer_desc_set_proj_size(&d, P), FRNN_STATUS_INVALID_VALUE,
            "proj_size: an LSTM option; this layer is not an LSTM");
    d.gru_variant = FRNN_GRU_VARIANT_RESET_BEFORE_LINEAR;
    REFUSED(frnn_layer_desc_set_layer_norm(&d, 1), FRNN_STATUS_INVALID_VALUE,
            "layer_norm: layer normalization is implemented for the LSTM and the "
            "linear-before-reset GRU");
    d.cell = FRNN_CELL_RNN;
    d.gru_variant = 0;
    REFUSED(frnn_layer_desc_set_layer_norm(&d, 1), FRNN_STATUS_INVALID_VALUE,
            "layer_norm: layer normalization is implemented for the LSTM and the "
            "linear-before-reset GRU");

    /* Layer norm and the LSTM options exclude each other, whichever comes first. */
    d = lstm_desc();
    CHECK_OK(frnn_layer_desc_set_layer_norm(&d, 1));
    CHECK(d.options.layer_norm == 1);
    REFUSED(frnn_layer_desc_set_peepholes(&d, 1), FRNN_STATUS_INVALID_VALUE,
            "peepholes: not combined with layer normalization");
    REFUSED(frnn_layer_desc_set_clip(&d, 1.0f), FRNN_STATUS_INVALID_VALUE,
            "clip: not combined with layer normalization");
    CHECK_OK(frnn_layer_desc_set_layer_norm(&d, 0));
    CHECK_OK(frnn_layer_desc_set_proj_size(&d, P));
    REFUSED(frnn_layer_desc_set_layer_norm(&d, 1), FRNN_STATUS_INVALID_VALUE,
            "proj_size: not combined with layer normalization");
    /* The sizes must be set first: H = 0 makes every setter fail. */
    d = lstm_desc();
    d.hidden_size = 0;
    REFUSED(frnn_layer_desc_set_peepholes(&d, 1), FRNN_STATUS_ZERO_SIZE, "H must be at least 1");

    /* Bad option fields written directly are caught where the descriptor is used. */
    size_t a = 77, b = 77, c = 77;
    d = lstm_desc();
    d.options.peepholes = 3;
    CHECK_STATUS(frnn_desc_extra_weight_lens(&d, &a, &b, &c), FRNN_STATUS_INVALID_VALUE);
    CHECK_MSG("desc.options.peepholes: must be 0 or 1");
    d = lstm_desc();
    d.options.clip = -2.0f;
    CHECK_STATUS(frnn_desc_weight_lens(&d, &a, &b, &c), FRNN_STATUS_INVALID_VALUE);
    CHECK_MSG("clip: must be positive and finite");
    d = lstm_desc();
    d.options.proj_size = H;
    CHECK_STATUS(frnn_desc_extra_weight_lens(&d, &a, &b, &c), FRNN_STATUS_INVALID_VALUE);
    CHECK(a == 77 && b == 77 && c == 77);
    CHECK_STATUS(frnn_desc_extra_weight_lens(NULL, &a, &b, &c), FRNN_STATUS_NULL_POINTER);
    d = lstm_desc();
    CHECK_STATUS(frnn_desc_extra_weight_lens(&d, &a, NULL, &c), FRNN_STATUS_NULL_POINTER);
    CHECK_MSG("out_peepholes_len: NULL pointer");
    CHECK(a == 77 && c == 77);

    /* The same on a stack descriptor. */
    frnn_stack_desc s = {0};
    s.cell = FRNN_CELL_LSTM;
    s.input_size = I;
    s.hidden_size = H;
    s.num_layers = 2;
    CHECK_STATUS(frnn_stack_desc_set_proj_size(&s, H), FRNN_STATUS_INVALID_VALUE);
    CHECK(s.options.proj_size == 0);
    CHECK_STATUS(frnn_stack_desc_set_proj_size(&s, 0), FRNN_STATUS_ZERO_SIZE);
    CHECK_OK(frnn_stack_desc_set_proj_size(&s, P));
    CHECK_OK(frnn_stack_desc_set_peepholes(&s, 1));
    CHECK_STATUS(frnn_stack_desc_set_layer_norm(&s, 1), FRNN_STATUS_INVALID_VALUE);
    CHECK(s.options.layer_norm == 0 && s.options.proj_size == P && s.options.peepholes == 1);
    CHECK_STATUS(frnn_stack_desc_extra_weight_lens(&s, 4, &a, &b, &c), FRNN_STATUS_INVALID_VALUE);
    CHECK_MSG("index: not below the number of layer-directions L*D");
    CHECK_OK(frnn_stack_desc_extra_weight_lens(&s, 1, &a, &b, &c));
    CHECK(a == P * H && b == 3 * H && c == 0);
    CHECK_OK(frnn_stack_desc_weight_lens(&s, 1, &a, &b, &c));
    CHECK(a == 4 * H * P && b == 4 * H * P && c == 4 * H);
    s.options.input_forget = 2;
    CHECK_STATUS(frnn_stack_desc_sizes(&s, &a, &b), FRNN_STATUS_INVALID_VALUE);
    CHECK_MSG("desc.options.input_forget: must be 0 or 1");
#undef REFUSED
}

/* Buffers of one layer with a projection and peepholes. */
typedef struct {
    float w_ih[4 * H * I], w_hh[4 * H * P], b[4 * H], w_hr[P * H], peep[3 * H], ln[18 * H];
} bufs_t;

static void fill(float *p, size_t n, float v) {
    for (size_t k = 0; k < n; k++) p[k] = v * (float)((k % 7) + 1);
}

static frnn_weights weights_of(bufs_t *b) {
    frnn_weights w = {{b->w_ih, 4 * H * I}, {b->w_hh, 4 * H * P}, {b->b, 4 * H}, {b->b, 4 * H}};
    return w;
}

static void layer_weights(void) {
    static bufs_t b;
    fill(b.w_ih, 4 * H * I, 0.01f);
    fill(b.w_hh, 4 * H * P, 0.02f);
    fill(b.b, 4 * H, 0.03f);
    fill(b.w_hr, P * H, 0.04f);
    fill(b.peep, 3 * H, 0.05f);
    fill(b.ln, 18 * H, 0.06f);
    frnn_layer_desc d = lstm_desc();
    CHECK_OK(frnn_layer_desc_set_proj_size(&d, P));
    CHECK_OK(frnn_layer_desc_set_peepholes(&d, 1));
    frnn_weights w = weights_of(&b);
    frnn_extra_weights e = {{b.w_hr, P * H}, {b.peep, 3 * H}, {NULL, 0}};
    frnn_layer *layer = (frnn_layer *)SENTINEL;

#define CREATE_REFUSED(call, status, msg)                                                  \
    do {                                                                                   \
        layer = (frnn_layer *)SENTINEL;                                                    \
        CHECK_STATUS(call, status);                                                        \
        CHECK_MSG(msg);                                                                    \
        CHECK(layer == (frnn_layer *)SENTINEL);                                            \
    } while (0)
    e.w_hr.len = P * H - 1;
    CREATE_REFUSED(frnn_layer_create_ex(&d, &w, &e, &layer), FRNN_STATUS_LENGTH_MISMATCH,
                   "W_hr: expected 8 elements, got 7");
    e.w_hr.len = P * H;
    e.peepholes.len = 3 * H + 1;
    CREATE_REFUSED(frnn_layer_create_ex(&d, &w, &e, &layer), FRNN_STATUS_LENGTH_MISMATCH,
                   "peepholes: expected 12 elements, got 13");
    e.peepholes.len = 3 * H;
    e.w_hr = (frnn_const_buffer){NULL, 0};
    CREATE_REFUSED(frnn_layer_create_ex(&d, &w, &e, &layer), FRNN_STATUS_MISSING_ARGUMENT,
                   "W_hr: required but missing");
    CREATE_REFUSED(frnn_layer_create_ex(&d, &w, NULL, &layer), FRNN_STATUS_MISSING_ARGUMENT,
                   "W_hr: required but missing");
    e.w_hr = (frnn_const_buffer){NULL, P * H};
    CREATE_REFUSED(frnn_layer_create_ex(&d, &w, &e, &layer), FRNN_STATUS_NULL_POINTER,
                   "W_hr: NULL pointer with length 8 (an absent buffer has length 0)");
    e.w_hr = (frnn_const_buffer){b.w_hr, P * H};
    e.layer_norm = (frnn_const_buffer){b.ln, 18 * H};
    CREATE_REFUSED(frnn_layer_create_ex(&d, &w, &e, &layer), FRNN_STATUS_UNEXPECTED_ARGUMENT,
                   "layer_norm: not taken by this layer");
    e.layer_norm = (frnn_const_buffer){NULL, 0};
    CREATE_REFUSED(frnn_layer_create_ex(&d, NULL, &e, &layer), FRNN_STATUS_NULL_POINTER,
                   "weights: NULL pointer");
    /* W_hh is [4H, P] with a projection. */
    w.w_hh.len = 4 * H * H;
    CREATE_REFUSED(frnn_layer_create_ex(&d, &w, &e, &layer), FRNN_STATUS_LENGTH_MISMATCH,
                   "W_hh: expected 32 elements, got 64");
    w.w_hh.len = 4 * H * P;
    /* The plain call has no extras. */
    CREATE_REFUSED(frnn_layer_create(&d, b.w_ih, 4 * H * I, b.w_hh, 4 * H * P, b.b, 4 * H, b.b,
                                     4 * H, &layer),
                   FRNN_STATUS_MISSING_ARGUMENT, "W_hr: required but missing");
    CHECK_OK(frnn_layer_create_ex(&d, &w, &e, &layer));

    /* Extras given to a plain layer, and LN parameters of the wrong length. */
    frnn_layer_desc plain = lstm_desc();
    frnn_layer *pl = (frnn_layer *)SENTINEL;
    frnn_extra_weights pe = {{b.w_hr, P * H}, {NULL, 0}, {NULL, 0}};
    frnn_weights pw = weights_of(&b);
    static float w_hh_plain[4 * H * H];
    pw.w_hh = (frnn_const_buffer){w_hh_plain, 4 * H * H};
    CHECK_STATUS(frnn_layer_create_ex(&plain, &pw, &pe, &pl), FRNN_STATUS_UNEXPECTED_ARGUMENT);
    CHECK_MSG("W_hr: not taken by this layer");
    CHECK(pl == (frnn_layer *)SENTINEL);
    frnn_layer_desc lnd = lstm_desc();
    CHECK_OK(frnn_layer_desc_set_layer_norm(&lnd, 1));
    pe = (frnn_extra_weights){{NULL, 0}, {NULL, 0}, {b.ln, 18 * H - 1}};
    CHECK_STATUS(frnn_layer_create_ex(&lnd, &pw, &pe, &pl), FRNN_STATUS_LENGTH_MISMATCH);
    CHECK_MSG("layer_norm: expected 72 elements, got 71");
    pe.layer_norm.len = 12 * H;
    CHECK_STATUS(frnn_layer_create_ex(&lnd, &pw, &pe, &pl), FRNN_STATUS_LENGTH_MISMATCH);
    CHECK_MSG("layer_norm: expected 72 elements, got 48");
    CHECK(pl == (frnn_layer *)SENTINEL);
    /* Without LN parameters a layer-normalized layer starts from the identity. */
    CHECK_OK(frnn_layer_create_ex(&lnd, &pw, NULL, &pl));
    static float ln_got[18 * H];
    frnn_extra_weights_mut lnm = {{NULL, 0}, {NULL, 0}, {ln_got, 18 * H}};
    CHECK_OK(frnn_layer_get_weights_ex(pl, NULL, &lnm));
    for (size_t k = 0; k < 18 * H; k++) {
        int gain = k < 4 * H || (k >= 8 * H && k < 12 * H) || (k >= 16 * H && k < 17 * H);
        CHECK(ln_got[k] == (gain ? 1.0f : 0.0f));
    }
    lnm.layer_norm.len = 18 * H + 1;
    ln_got[0] = NAN;
    CHECK_STATUS(frnn_layer_get_weights_ex(pl, NULL, &lnm), FRNN_STATUS_LENGTH_MISMATCH);
    CHECK(isnan(ln_got[0]));
    frnn_layer_destroy(pl);

    /* get_weights_ex: wrong or unexpected buffers write nothing. */
    float *hr = alloc_fill(P * H, NAN), *pp = alloc_fill(3 * H, NAN), *lg = alloc_fill(18 * H, NAN);
    frnn_extra_weights_mut em = {{hr, P * H - 1}, {pp, 3 * H}, {NULL, 0}};
    CHECK_STATUS(frnn_layer_get_weights_ex(layer, NULL, &em), FRNN_STATUS_LENGTH_MISMATCH);
    CHECK_MSG("W_hr: expected 8 elements, got 7");
    CHECK(all_equal(pp, 3 * H, NAN));
    em.w_hr.len = P * H;
    em.layer_norm = (frnn_buffer){lg, 18 * H};
    CHECK_STATUS(frnn_layer_get_weights_ex(layer, NULL, &em), FRNN_STATUS_UNEXPECTED_ARGUMENT);
    CHECK_MSG("layer_norm: not taken by this layer");
    CHECK(all_equal(hr, P * H, NAN) && all_equal(pp, 3 * H, NAN));
    em.layer_norm = (frnn_buffer){NULL, 0};
    em.w_hr = (frnn_buffer){lg, P * H};
    em.peepholes = (frnn_buffer){lg + 4, 3 * H}; /* overlaps W_hr's buffer */
    CHECK_STATUS(frnn_layer_get_weights_ex(layer, NULL, &em), FRNN_STATUS_INVALID_VALUE);
    CHECK_MSG("W_hr: output buffer overlaps peepholes");
    CHECK(all_equal(lg, 18 * H, NAN));
    em.w_hr = (frnn_buffer){hr, P * H};
    em.peepholes = (frnn_buffer){pp, 3 * H};
    CHECK_OK(frnn_layer_get_weights_ex(layer, NULL, &em));
    CHECK(memcmp(hr, b.w_hr, sizeof b.w_hr) == 0 && memcmp(pp, b.peep, sizeof b.peep) == 0);

    /* set_weights_ex: refused sets change nothing. */
    static float w_hr2[P * H];
    fill(w_hr2, P * H, -0.5f);
    frnn_extra_weights e2 = {{b.ln, P * H + 1}, {b.peep, 3 * H}, {NULL, 0}};
    CHECK_STATUS(frnn_layer_set_weights_ex(layer, &w, &e2), FRNN_STATUS_LENGTH_MISMATCH);
    CHECK_STATUS(frnn_layer_set_weights(layer, b.w_ih, 4 * H * I, b.w_hh, 4 * H * P, b.b, 4 * H,
                                        b.b, 4 * H),
                 FRNN_STATUS_MISSING_ARGUMENT);
    memset(hr, 0, P * H * sizeof(float));
    CHECK_OK(frnn_layer_get_weights_ex(layer, NULL, &em));
    CHECK(memcmp(hr, b.w_hr, sizeof b.w_hr) == 0);
    e2.w_hr = (frnn_const_buffer){w_hr2, P * H};
    CHECK_OK(frnn_layer_set_weights_ex(layer, &w, &e2));
    CHECK_OK(frnn_layer_get_weights_ex(layer, NULL, &em));
    CHECK(memcmp(hr, w_hr2, sizeof w_hr2) == 0);

    /* Forward with options: masks. */
    const size_t NX = T * N * I, NY = T * N * P, NH = N * P, NC = N * H;
    float *x = alloc_fill(NX, 0.5f), *y = alloc_fill(NY, NAN), *mask = alloc_fill(NC, 2.0f);
    frnn_forward_options o = {0};
    o.recurrent_mask = mask;
    o.recurrent_mask_len = NH;
    CHECK_STATUS(frnn_layer_forward_opts(layer, T, N, &o, x, NX, NULL, 0, NULL, 0, y, NY, NULL, 0,
                                         NULL, 0),
                 FRNN_STATUS_UNEXPECTED_ARGUMENT);
    CHECK_MSG("recurrent_mask: not taken by this layer");
    CHECK(all_equal(y, NY, NAN));
    frnn_workspace *ws = NULL;
    CHECK_OK(frnn_workspace_create(&ws));
    o.recurrent_mask_len = NH - 1;
    CHECK_STATUS(frnn_layer_forward_train_opts(layer, ws, T, N, &o, x, NX, NULL, 0, NULL, 0, y, NY,
                                               NULL, 0, NULL, 0),
                 FRNN_STATUS_LENGTH_MISMATCH);
    CHECK_MSG("recurrent_mask: expected 4 elements, got 3");
    CHECK(all_equal(y, NY, NAN));
    o.recurrent_mask_len = NC; /* [N, H] instead of [N, P] */
    CHECK_STATUS(frnn_layer_forward_train_opts(layer, ws, T, N, &o, x, NX, NULL, 0, NULL, 0, y, NY,
                                               NULL, 0, NULL, 0),
                 FRNN_STATUS_LENGTH_MISMATCH);
    o.recurrent_mask = NULL;
    o.recurrent_mask_len = NH;
    CHECK_STATUS(frnn_layer_forward_train_opts(layer, ws, T, N, &o, x, NX, NULL, 0, NULL, 0, y, NY,
                                               NULL, 0, NULL, 0),
                 FRNN_STATUS_NULL_POINTER);
    o.recurrent_mask = y; /* the mask may not overlap an output */
    CHECK_STATUS(frnn_layer_forward_train_opts(layer, ws, T, N, &o, x, NX, NULL, 0, NULL, 0, y, NY,
                                               NULL, 0, NULL, 0),
                 FRNN_STATUS_INVALID_VALUE);
    CHECK_MSG("y: output buffer overlaps recurrent_mask");
    o.recurrent_mask = mask;
    static const size_t bad_len[2] = {T + 1, 1};
    o.lengths = bad_len;
    o.lengths_len = 2;
    CHECK_STATUS(frnn_layer_forward_train_opts(layer, ws, T, N, &o, x, NX, NULL, 0, NULL, 0, y, NY,
                                               NULL, 0, NULL, 0),
                 FRNN_STATUS_INVALID_VALUE);
    CHECK(all_equal(y, NY, NAN));
    o.lengths = NULL;
    o.lengths_len = 0;
    CHECK_OK(frnn_layer_forward_train_opts(layer, ws, T, N, &o, x, NX, NULL, 0, NULL, 0, y, NY,
                                           NULL, 0, NULL, 0));

    /* Backward: every gradient the layer has is required, and only those. */
    float *dy = alloc_fill(NY, 1.0f);
    CHECK_OK(frnn_layer_backward_data(layer, ws, dy, NY, NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL,
                                      0));
    float *g0 = alloc_fill(4 * H * I, NAN), *g1 = alloc_fill(4 * H * P, NAN),
          *g2 = alloc_fill(4 * H, NAN), *g3 = alloc_fill(4 * H, NAN);
    float *ghr = alloc_fill(P * H, NAN), *gp = alloc_fill(3 * H, NAN), *gl = alloc_fill(18 * H, NAN);
    frnn_weights_mut gw = {{g0, 4 * H * I}, {g1, 4 * H * P}, {g2, 4 * H}, {g3, 4 * H}};
    frnn_extra_weights_mut ge = {{ghr, P * H}, {NULL, 0}, {NULL, 0}};
#define GRADS_UNTOUCHED()                                                                  \
    CHECK(all_equal(g0, 4 * H * I, NAN) && all_equal(g1, 4 * H * P, NAN) &&               \
          all_equal(ghr, P * H, NAN) && all_equal(gp, 3 * H, NAN))
    CHECK_STATUS(frnn_layer_backward_weights_ex(layer, ws, x, NX, &gw, &ge,
                                                FRNN_GRAD_MODE_OVERWRITE),
                 FRNN_STATUS_MISSING_ARGUMENT);
    CHECK_MSG("dpeepholes: required but missing");
    GRADS_UNTOUCHED();
    CHECK_STATUS(frnn_layer_backward_weights_ex(layer, ws, x, NX, &gw, NULL,
                                                FRNN_GRAD_MODE_OVERWRITE),
                 FRNN_STATUS_MISSING_ARGUMENT);
    CHECK_MSG("dW_hr: required but missing");
    CHECK_STATUS(frnn_layer_backward_weights(layer, ws, x, NX, g0, 4 * H * I, g1, 4 * H * P, g2,
                                             4 * H, g3, 4 * H, FRNN_GRAD_MODE_OVERWRITE),
                 FRNN_STATUS_MISSING_ARGUMENT);
    CHECK_MSG("dW_hr: required but missing");
    ge.peepholes = (frnn_buffer){gp, 3 * H - 1};
    CHECK_STATUS(frnn_layer_backward_weights_ex(layer, ws, x, NX, &gw, &ge,
                                                FRNN_GRAD_MODE_OVERWRITE),
                 FRNN_STATUS_LENGTH_MISMATCH);
    CHECK_MSG("dpeepholes: expected 12 elements, got 11");
    ge.peepholes.len = 3 * H;
    ge.layer_norm = (frnn_buffer){gl, 18 * H};
    CHECK_STATUS(frnn_layer_backward_weights_ex(layer, ws, x, NX, &gw, &ge,
                                                FRNN_GRAD_MODE_OVERWRITE),
                 FRNN_STATUS_UNEXPECTED_ARGUMENT);
    CHECK_MSG("dlayer_norm: not taken by this layer");
    GRADS_UNTOUCHED();
    CHECK_STATUS(frnn_layer_backward_weights_ex(layer, ws, x, NX, NULL, &ge,
                                                FRNN_GRAD_MODE_OVERWRITE),
                 FRNN_STATUS_NULL_POINTER);
    CHECK_MSG("grads: NULL pointer");
    gw.w_ih.data = NULL;
    ge.layer_norm = (frnn_buffer){NULL, 0};
    CHECK_STATUS(frnn_layer_backward_weights_ex(layer, ws, x, NX, &gw, &ge,
                                                FRNN_GRAD_MODE_OVERWRITE),
                 FRNN_STATUS_NULL_POINTER);
    CHECK_MSG("dW_ih: NULL pointer");
    gw.w_ih.data = g0;
    CHECK_STATUS(frnn_layer_backward_ex(layer, ws, x, NX, dy, NY, NULL, 0, NULL, 0, NULL, 0, NULL,
                                        0, NULL, 0, &gw, NULL, FRNN_GRAD_MODE_OVERWRITE),
                 FRNN_STATUS_MISSING_ARGUMENT);
    GRADS_UNTOUCHED();
    CHECK_OK(frnn_layer_backward_weights_ex(layer, ws, x, NX, &gw, &ge,
                                            FRNN_GRAD_MODE_OVERWRITE));
    CHECK(!isnan(ghr[0]) && !isnan(gp[0]));

    /* frnn_dropout_mask. */
    float *m = alloc_fill(10, NAN);
    CHECK_STATUS(frnn_dropout_mask(1.0f, 1, m, 10), FRNN_STATUS_INVALID_VALUE);
    CHECK_MSG("dropout: the probability must be in [0, 1)");
    CHECK_STATUS(frnn_dropout_mask(-0.1f, 1, m, 10), FRNN_STATUS_INVALID_VALUE);
    CHECK_STATUS(frnn_dropout_mask(NAN, 1, m, 10), FRNN_STATUS_INVALID_VALUE);
    CHECK(all_equal(m, 10, NAN));
    CHECK_STATUS(frnn_dropout_mask(0.5f, 1, NULL, 10), FRNN_STATUS_NULL_POINTER);
    CHECK_MSG("out: NULL pointer");
    CHECK_OK(frnn_dropout_mask(0.0f, 1, m, 10));
    CHECK(all_equal(m, 10, 1.0f));
    CHECK_OK(frnn_dropout_mask(0.5f, 9, m, 10));
    for (int k = 0; k < 10; k++) CHECK(m[k] == 0.0f || m[k] == 2.0f);

    free(m);
    free(x);
    free(y);
    free(mask);
    free(dy);
    free(g0);
    free(g1);
    free(g2);
    free(g3);
    free(ghr);
    free(gp);
    free(gl);
    free(hr);
    free(pp);
    free(lg);
    frnn_workspace_destroy(ws);
    frnn_layer_destroy(layer);
#undef CREATE_REFUSED
#undef GRADS_UNTOUCHED
}

static void stack_errors(void) {
    frnn_stack_desc d = {0};
    d.cell = FRNN_CELL_LSTM;
    d.input_size = I;
    d.hidden_size = H;
    d.num_layers = 2;
    d.direction = FRNN_DIRECTION_FORWARD;
    CHECK_OK(frnn_stack_desc_set_proj_size(&d, P));
    size_t kc = 0, wo = 0;
    CHECK_OK(frnn_stack_desc_sizes(&d, &kc, &wo));
    CHECK(kc == 2 && wo == P);
    frnn_stack *st = (frnn_stack *)SENTINEL;
    /* Creation: extras count and lengths, named by element. */
    static float w_ih0[4 * H * I], w_ih1[4 * H * P], w_hh[4 * H * P], bias[4 * H], w_hr[2][P * H];
    frnn_weights w[2] = {{{w_ih0, 4 * H * I}, {w_hh, 4 * H * P}, {bias, 4 * H}, {bias, 4 * H}},
                         {{w_ih1, 4 * H * P}, {w_hh, 4 * H * P}, {bias, 4 * H}, {bias, 4 * H}}};
    fill(w_hr[0], P * H, 0.3f);
    fill(w_hr[1], P * H, -0.2f);
    frnn_extra_weights e[2] = {{{w_hr[0], P * H}, {NULL, 0}, {NULL, 0}},
                               {{w_hr[1], P * H - 2}, {NULL, 0}, {NULL, 0}}};
    CHECK_STATUS(frnn_stack_create_ex(&d, w, 2, e, 2, &st), FRNN_STATUS_LENGTH_MISMATCH);
    CHECK_MSG("extra[1].W_hr: expected 8 elements, got 6");
    CHECK_STATUS(frnn_stack_create_ex(&d, w, 2, e, 1, &st), FRNN_STATUS_LENGTH_MISMATCH);
    CHECK_MSG("extra: expected 2 elements, got 1");
    CHECK_STATUS(frnn_stack_create_ex(&d, w, 2, NULL, 0, &st), FRNN_STATUS_MISSING_ARGUMENT);
    CHECK_MSG("extra[0].W_hr: required but missing");
    CHECK_STATUS(frnn_stack_create(&d, w, 2, &st), FRNN_STATUS_MISSING_ARGUMENT);
    e[1].peepholes = (frnn_const_buffer){bias, 3 * H};
    e[1].w_hr.len = P * H;
    CHECK_STATUS(frnn_stack_create_ex(&d, w, 2, e, 2, &st), FRNN_STATUS_UNEXPECTED_ARGUMENT);
    CHECK_MSG("extra[1].peepholes: not taken by this layer");
    CHECK(st == (frnn_stack *)SENTINEL);
    e[1].peepholes = (frnn_const_buffer){NULL, 0};
    CHECK_OK(frnn_stack_create_ex(&d, w, 2, e, 2, &st));

    /* Dropout probabilities and masks. */
    const size_t NX = T * N * I, NY = T * N * P;
    float *x = alloc_fill(NX, 0.25f), *y = alloc_fill(NY, NAN), *mask = alloc_fill(N * P, 1.0f);
    frnn_stack_workspace *ws = NULL;
    CHECK_OK(frnn_stack_workspace_create(&ws));
    const float bad_p[4] = {1.0f, -0.1f, 1.5f, NAN};
    for (int k = 0; k < 4; k++) {
        CHECK_STATUS(frnn_stack_forward_train_dropout(st, ws, T, N, NULL, bad_p[k], 0.0f, 1, x, NX,
                                                      NULL, 0, NULL, 0, y, NY, NULL, 0, NULL, 0),
                     FRNN_STATUS_INVALID_VALUE);
        CHECK_MSG("dropout: the probability must be in [0, 1)");
        CHECK_STATUS(frnn_stack_forward_train_dropout(st, ws, T, N, NULL, 0.0f, bad_p[k], 1, x, NX,
                                                      NULL, 0, NULL, 0, y, NY, NULL, 0, NULL, 0),
                     FRNN_STATUS_INVALID_VALUE);
    }
    frnn_forward_options o = {0};
    o.recurrent_mask = mask;
    o.recurrent_mask_len = N * P;
    CHECK_STATUS(frnn_stack_forward_train_dropout(st, ws, T, N, &o, 0.2f, 0.2f, 1, x, NX, NULL, 0,
                                                  NULL, 0, y, NY, NULL, 0, NULL, 0),
                 FRNN_STATUS_INVALID_VALUE);
    CHECK_MSG("opts.recurrent_mask: a stack draws its own masks (recurrent_dropout of "
              "frnn_stack_forward_train_dropout)");
    CHECK(all_equal(y, NY, NAN));
    CHECK_STATUS(frnn_stack_forward_train_dropout(NULL, ws, T, N, NULL, 0.2f, 0.2f, 1, x, NX, NULL,
                                                  0, NULL, 0, y, NY, NULL, 0, NULL, 0),
                 FRNN_STATUS_NULL_POINTER);
    CHECK_STATUS(frnn_stack_forward_train_dropout(st, NULL, T, N, NULL, 0.2f, 0.2f, 1, x, NX, NULL,
                                                  0, NULL, 0, y, NY, NULL, 0, NULL, 0),
                 FRNN_STATUS_NULL_POINTER);
    CHECK_MSG("workspace: NULL pointer");
    CHECK(all_equal(y, NY, NAN));

    /* Before any forward no masks; then the getters' checks. */
    size_t count = 9, len = 9;
    CHECK_OK(frnn_stack_workspace_mask_count(ws, FRNN_MASK_KIND_RECURRENT, &count, &len));
    CHECK(count == 0 && len == 0);
    CHECK_OK(frnn_stack_forward_train_dropout(st, ws, T, N, NULL, 0.2f, 0.3f, 7, x, NX, NULL, 0,
                                              NULL, 0, y, NY, NULL, 0, NULL, 0));
    CHECK_STATUS(frnn_stack_workspace_mask_count(ws, 3, &count, &len), FRNN_STATUS_INVALID_VALUE);
    CHECK_MSG("kind: not a frnn_mask_kind value");
    CHECK_STATUS(frnn_stack_workspace_mask_count(ws, 0, NULL, &len), FRNN_STATUS_NULL_POINTER);
    CHECK_OK(frnn_stack_workspace_mask_count(ws, FRNN_MASK_KIND_RECURRENT, &count, &len));
    CHECK(count == 2 && len == N * P);
    CHECK_OK(frnn_stack_workspace_mask_count(ws, FRNN_MASK_KIND_BETWEEN_LAYERS, &count, &len));
    CHECK(count == 1 && len == T * N * P);
    float *mk = alloc_fill(T * N * P, NAN);
    CHECK_STATUS(frnn_stack_workspace_get_mask(ws, FRNN_MASK_KIND_BETWEEN_LAYERS, 1, mk, len),
                 FRNN_STATUS_INVALID_VALUE);
    CHECK_MSG("index: not below the number of masks drawn (frnn_stack_workspace_mask_count)");
    CHECK_STATUS(frnn_stack_workspace_get_mask(ws, FRNN_MASK_KIND_BETWEEN_LAYERS, 0, mk, len - 1),
                 FRNN_STATUS_LENGTH_MISMATCH);
    CHECK_MSG("out: expected 12 elements, got 11");
    CHECK_STATUS(frnn_stack_workspace_get_mask(ws, 5, 0, mk, len), FRNN_STATUS_INVALID_VALUE);
    CHECK_STATUS(frnn_stack_workspace_get_mask(NULL, 0, 0, mk, len), FRNN_STATUS_NULL_POINTER);
    CHECK(all_equal(mk, T * N * P, NAN));
    CHECK_OK(frnn_stack_workspace_get_mask(ws, FRNN_MASK_KIND_BETWEEN_LAYERS, 0, mk, len));
    for (size_t k = 0; k < len; k++) CHECK(mk[k] == 0.0f || (mk[k] > 1.24f && mk[k] < 1.26f));

    /* Backward: the extra gradients, per element. */
    float *dy = alloc_fill(NY, 1.0f);
    static float g[2][4][4 * H * P + 4 * H * I], ghr[2][P * H];
    for (int k = 0; k < 2; k++) fill(ghr[k], P * H, 7.0f);
    frnn_weights_mut gw[2];
    for (int k = 0; k < 2; k++) {
        gw[k].w_ih = (frnn_buffer){g[k][0], k ? 4 * H * P : 4 * H * I};
        gw[k].w_hh = (frnn_buffer){g[k][1], 4 * H * P};
        gw[k].b_ih = (frnn_buffer){g[k][2], 4 * H};
        gw[k].b_hh = (frnn_buffer){g[k][3], 4 * H};
    }
    frnn_extra_weights_mut ge[2] = {{{ghr[0], P * H}, {NULL, 0}, {NULL, 0}},
                                    {{NULL, 0}, {NULL, 0}, {NULL, 0}}};
    CHECK_STATUS(frnn_stack_backward_ex(st, ws, dy, NY, NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL,
                                        0, gw, 2, ge, 2, FRNN_GRAD_MODE_OVERWRITE),
                 FRNN_STATUS_MISSING_ARGUMENT);
    CHECK_MSG("extra_grads[1].dW_hr: required but missing");
    CHECK_STATUS(frnn_stack_backward(st, ws, dy, NY, NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0,
                                     gw, 2, FRNN_GRAD_MODE_OVERWRITE),
                 FRNN_STATUS_MISSING_ARGUMENT);
    CHECK_MSG("extra_grads[0].dW_hr: required but missing");
    CHECK_STATUS(frnn_stack_backward_ex(st, ws, dy, NY, NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL,
                                        0, gw, 2, ge, 3, FRNN_GRAD_MODE_OVERWRITE),
                 FRNN_STATUS_LENGTH_MISMATCH);
    CHECK_MSG("extra_grads: expected 2 elements, got 3");
    ge[1].w_hr = (frnn_buffer){ghr[1], P * H + 1};
    CHECK_STATUS(frnn_stack_backward_ex(st, ws, dy, NY, NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL,
                                        0, gw, 2, ge, 2, FRNN_GRAD_MODE_OVERWRITE),
                 FRNN_STATUS_LENGTH_MISMATCH);
    CHECK_MSG("extra_grads[1].dW_hr: expected 8 elements, got 9");
    for (int k = 0; k < 2; k++)
        for (size_t j = 0; j < P * H; j++) CHECK(ghr[k][j] == 7.0f * (float)((j % 7) + 1));
    ge[1].w_hr.len = P * H;
    CHECK_OK(frnn_stack_backward_ex(st, ws, dy, NY, NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0,
                                    gw, 2, ge, 2, FRNN_GRAD_MODE_OVERWRITE));
    CHECK(ghr[1][0] != 7.0f);

    /* get_weights_ex / set_weights_ex name the element too. */
    static float hr_out[2][P * H];
    frnn_extra_weights_mut eo[2] = {{{hr_out[0], P * H}, {NULL, 0}, {NULL, 0}},
                                    {{hr_out[1], P * H}, {bias, 3 * H}, {NULL, 0}}};
    CHECK_STATUS(frnn_stack_get_weights_ex(st, NULL, 0, eo, 2), FRNN_STATUS_UNEXPECTED_ARGUMENT);
    CHECK_MSG("extra[1].peepholes: not taken by this layer");
    eo[1].peepholes = (frnn_buffer){NULL, 0};
    CHECK_STATUS(frnn_stack_get_weights_ex(st, NULL, 0, eo, 1), FRNN_STATUS_LENGTH_MISMATCH);
    CHECK_OK(frnn_stack_get_weights_ex(st, NULL, 0, eo, 2));
    CHECK(memcmp(hr_out, w_hr, sizeof w_hr) == 0);
    e[0].w_hr.len = 1;
    CHECK_STATUS(frnn_stack_set_weights_ex(st, w, 2, e, 2), FRNN_STATUS_LENGTH_MISMATCH);
    CHECK_MSG("extra[0].W_hr: expected 8 elements, got 1");
    CHECK_STATUS(frnn_stack_set_weights(st, w, 2), FRNN_STATUS_MISSING_ARGUMENT);

    free(mk);
    free(dy);
    free(x);
    free(y);
    free(mask);
    frnn_stack_workspace_destroy(ws);
    frnn_stack_destroy(st);
}

/* Input dropout: the input mask of a layer's training forward (frnn_forward_options_ex), the
 * versioned options struct itself, and a stack's input dropout. */
static void input_dropout_errors(void) {
    frnn_layer_desc d = lstm_desc();
    frnn_layer *layer = NULL;
    CHECK_OK(frnn_layer_create_uniform(&d, 5, &layer));
    const size_t NX = T * N * I, NY = T * N * H, NH = N * H, NI = N * I;
    float *x = alloc_fill(NX, 0.5f), *y = alloc_fill(NY, NAN), *hn = alloc_fill(NH, NAN);
    float *imask = alloc_fill(NI, 2.0f);
    frnn_forward_options_ex o;
    CHECK_STATUS(frnn_forward_options_ex_init(NULL), FRNN_STATUS_NULL_POINTER);
    CHECK_MSG("opts: NULL pointer");
    CHECK_OK(frnn_forward_options_ex_init(&o));
    o.input_mask = imask;
    o.input_mask_len = NI;
    /* Inference never drops. */
    CHECK_STATUS(frnn_layer_forward_opts_ex(layer, T, N, &o, x, NX, NULL, 0, NULL, 0, y, NY, hn,
                                            NH, NULL, 0),
                 FRNN_STATUS_UNEXPECTED_ARGUMENT);
    CHECK_MSG("input_mask: not taken by this layer");
    CHECK(all_equal(y, NY, NAN) && all_equal(hn, NH, NAN));
    frnn_workspace *ws = NULL;
    CHECK_OK(frnn_workspace_create(&ws));
    /* The mask is [N, I]. */
    o.input_mask_len = NI - 1;
    CHECK_STATUS(frnn_layer_forward_train_opts_ex(layer, ws, T, N, &o, x, NX, NULL, 0, NULL, 0, y,
                                                  NY, hn, NH, NULL, 0),
                 FRNN_STATUS_LENGTH_MISMATCH);
    CHECK_MSG("input_mask: expected 6 elements, got 5");
    o.input_mask_len = NH; /* [N, H] instead of [N, I] */
    CHECK_STATUS(frnn_layer_forward_train_opts_ex(layer, ws, T, N, &o, x, NX, NULL, 0, NULL, 0, y,
                                                  NY, hn, NH, NULL, 0),
                 FRNN_STATUS_LENGTH_MISMATCH);
    CHECK_MSG("input_mask: expected 6 elements, got 8");
    o.input_mask = NULL;
    o.input_mask_len = NI;
    CHECK_STATUS(frnn_layer_forward_train_opts_ex(layer, ws, T, N, &o, x, NX, NULL, 0, NULL, 0, y,
                                                  NY, hn, NH, NULL, 0),
                 FRNN_STATUS_NULL_POINTER);
    CHECK_MSG("input_mask: NULL pointer with length 6 (an absent buffer has length 0)");
    o.input_mask = y; /* the mask may not overlap an output */
    CHECK_STATUS(frnn_layer_forward_train_opts_ex(layer, ws, T, N, &o, x, NX, NULL, 0, NULL, 0, y,
                                                  NY, hn, NH, NULL, 0),
                 FRNN_STATUS_INVALID_VALUE);
    CHECK_MSG("y: output buffer overlaps input_mask");
    CHECK(all_equal(y, NY, NAN) && all_equal(hn, NH, NAN));
    /* The workspace was never filled. */
    float *dy = alloc_fill(NY, 1.0f), *dx = alloc_fill(NX, NAN);
    CHECK_STATUS(frnn_layer_backward_data(layer, ws, dy, NY, NULL, 0, NULL, 0, dx, NX, NULL, 0,
                                          NULL, 0),
                 FRNN_STATUS_WORKSPACE);
    CHECK(all_equal(dx, NX, NAN));

    /* struct_size: too small, too large with unknown options set, or larger but clear. */
    o.input_mask = imask;
    o.input_mask_len = NI;
    size_t sizes[3] = {0, sizeof(size_t), sizeof o - 1};
    for (int k = 0; k < 3; k++) {
        o.struct_size = sizes[k];
        CHECK_STATUS(frnn_layer_forward_train_opts_ex(layer, ws, T, N, &o, x, NX, NULL, 0, NULL, 0,
                                                      y, NY, hn, NH, NULL, 0),
                     FRNN_STATUS_INVALID_VALUE);
        CHECK_MSG("opts.struct_size: smaller than this version's frnn_forward_options_ex (use "
                  "frnn_forward_options_ex_init)");
        CHECK_STATUS(frnn_layer_forward_opts_ex(layer, T, N, &o, x, NX, NULL, 0, NULL, 0, y, NY,
                                                NULL, 0, NULL, 0),
                     FRNN_STATUS_INVALID_VALUE);
    }
    CHECK(all_equal(y, NY, NAN) && all_equal(hn, NH, NAN));
    struct {
        frnn_forward_options_ex o;
        size_t newer[2];
    } big;
    memset(&big, 0, sizeof big);
    CHECK_OK(frnn_forward_options_ex_init(&big.o));
    big.o.struct_size = sizeof big;
    big.o.input_mask = imask;
    big.o.input_mask_len = NI;
    big.newer[1] = 1;
    CHECK_STATUS(frnn_layer_forward_train_opts_ex(layer, ws, T, N, &big.o, x, NX, NULL, 0, NULL, 0,
                                                  y, NY, hn, NH, NULL, 0),
                 FRNN_STATUS_INVALID_VALUE);
    CHECK_MSG("opts: sets options this library version does not know (past its "
              "frnn_forward_options_ex)");
    CHECK(all_equal(y, NY, NAN) && all_equal(hn, NH, NAN));
    big.newer[1] = 0;
    CHECK_OK(frnn_layer_forward_train_opts_ex(layer, ws, T, N, &big.o, x, NX, NULL, 0, NULL, 0, y,
                                              NY, hn, NH, NULL, 0));
    CHECK(!all_equal(y, NY, NAN));
    /* A mask of twos on x = 0.5 is x = 1 with no mask: bitwise the same outputs, and dx twice
     * the unmasked run's. */
    float *y1 = alloc_fill(NY, NAN), *x1 = alloc_fill(NX, 1.0f), *dx1 = alloc_fill(NX, NAN);
    CHECK_OK(frnn_layer_backward_data(layer, ws, dy, NY, NULL, 0, NULL, 0, dx, NX, NULL, 0, NULL,
                                      0));
    CHECK_OK(frnn_layer_forward_train_opts_ex(layer, ws, T, N, NULL, x1, NX, NULL, 0, NULL, 0, y1,
                                              NY, NULL, 0, NULL, 0));
    CHECK(memcmp(y, y1, NY * sizeof *y) == 0);
    CHECK_OK(frnn_layer_backward_data(layer, ws, dy, NY, NULL, 0, NULL, 0, dx1, NX, NULL, 0, NULL,
                                      0));
    for (size_t k = 0; k < NX; k++) CHECK(dx[k] == 2.0f * dx1[k]);
    /* frnn_forward_options (no input mask) keeps working next to the _ex struct. */
    frnn_forward_options plain = {0};
    CHECK_OK(frnn_layer_forward_train_opts(layer, ws, T, N, &plain, x1, NX, NULL, 0, NULL, 0, y,
                                           NY, NULL, 0, NULL, 0));
    CHECK(memcmp(y, y1, NY * sizeof *y) == 0);

    /* Stacks draw their own input masks. */
    frnn_stack_desc sd = {0};
    sd.cell = FRNN_CELL_GRU;
    sd.input_size = I;
    sd.hidden_size = H;
    sd.num_layers = 2;
    sd.direction = FRNN_DIRECTION_BIDIRECTIONAL;
    frnn_stack *st = NULL;
    CHECK_OK(frnn_stack_create_uniform(&sd, 3, &st));
    const size_t SY = T * N * 2 * H;
    float *sy = alloc_fill(SY, NAN);
    CHECK_OK(frnn_forward_options_ex_init(&o));
    o.input_mask = imask;
    o.input_mask_len = NI;
    CHECK_STATUS(frnn_stack_forward_opts(st, T, N, &o, x, NX, NULL, 0, NULL, 0, sy, SY, NULL, 0,
                                         NULL, 0),
                 FRNN_STATUS_INVALID_VALUE);
    CHECK_MSG("opts.input_mask: a stack draws its own masks (frnn_dropout.input of "
              "frnn_stack_forward_train_dropout_ex)");
    frnn_stack_workspace *sws = NULL;
    CHECK_OK(frnn_stack_workspace_create(&sws));
    frnn_dropout dr = {0};
    dr.input = 0.5f;
    CHECK_STATUS(frnn_stack_forward_train_dropout_ex(st, sws, T, N, &o, &dr, 1, x, NX, NULL, 0,
                                                     NULL, 0, sy, SY, NULL, 0, NULL, 0),
                 FRNN_STATUS_INVALID_VALUE);
    CHECK(all_equal(sy, SY, NAN));
    static const size_t lens[2] = {T, 1};
    CHECK_OK(frnn_forward_options_ex_init(&o));
    o.lengths = lens;
    o.lengths_len = 2;
    CHECK_OK(frnn_stack_forward_train_dropout_ex(st, sws, T, N, &o, &dr, 1, x, NX, NULL, 0, NULL,
                                                 0, sy, SY, NULL, 0, NULL, 0));
    size_t count = 9, len = 9;
    CHECK_OK(frnn_stack_workspace_mask_count(sws, FRNN_MASK_KIND_INPUT, &count, &len));
    CHECK(count == 4 && len == NI);
    float *mk = alloc_fill(N * 2 * H, NAN);
    CHECK_STATUS(frnn_stack_workspace_get_mask(sws, FRNN_MASK_KIND_INPUT, 2, mk, NI),
                 FRNN_STATUS_LENGTH_MISMATCH);
    CHECK_MSG("out: expected 16 elements, got 6");
    CHECK_OK(frnn_stack_workspace_get_mask(sws, FRNN_MASK_KIND_INPUT, 2, mk, N * 2 * H));
    for (size_t k = 0; k < N * 2 * H; k++) CHECK(mk[k] == 0.0f || mk[k] == 2.0f);
    /* Bad probabilities are refused before the workspace is touched: its masks stay. */
    const float bad_p[3] = {1.0f, -0.25f, NAN};
    for (int k = 0; k < 3; k++) {
        dr.input = bad_p[k];
        CHECK_STATUS(frnn_stack_forward_train_dropout_ex(st, sws, T, N, NULL, &dr, 1, x, NX, NULL,
                                                         0, NULL, 0, sy, SY, NULL, 0, NULL, 0),
                     FRNN_STATUS_INVALID_VALUE);
        CHECK_MSG("dropout: the probability must be in [0, 1)");
        CHECK_OK(frnn_stack_workspace_mask_count(sws, FRNN_MASK_KIND_INPUT, &count, &len));
        CHECK(count == 4 && len == NI);
    }
    /* NULL dropout: no dropout, as frnn_stack_forward_train (equal to inference). */
    float *sy2 = alloc_fill(SY, NAN);
    CHECK_OK(frnn_stack_forward_train_dropout_ex(st, sws, T, N, NULL, NULL, 1, x, NX, NULL, 0,
                                                 NULL, 0, sy, SY, NULL, 0, NULL, 0));
    CHECK_OK(frnn_stack_forward_opts(st, T, N, NULL, x, NX, NULL, 0, NULL, 0, sy2, SY, NULL, 0,
                                     NULL, 0));
    CHECK(memcmp(sy, sy2, SY * sizeof *sy) == 0);
    CHECK_OK(frnn_stack_workspace_mask_count(sws, FRNN_MASK_KIND_INPUT, &count, &len));
    CHECK(count == 0 && len == 0);
    CHECK_STATUS(frnn_stack_forward_train_dropout_ex(NULL, sws, T, N, NULL, NULL, 1, x, NX, NULL,
                                                     0, NULL, 0, sy, SY, NULL, 0, NULL, 0),
                 FRNN_STATUS_NULL_POINTER);
    CHECK_MSG("stack: NULL pointer");

    free(mk);
    free(sy);
    free(sy2);
    free(y1);
    free(x1);
    free(dx1);
    free(dy);
    free(dx);
    free(x);
    free(y);
    free(hn);
    free(imask);
    frnn_stack_workspace_destroy(sws);
    frnn_stack_destroy(st);
    frnn_workspace_destroy(ws);
    frnn_layer_destroy(layer);
}

int main(void) {
    descriptor_setters();
    layer_weights();
    stack_errors();
    input_dropout_errors();
    if (g_failures) {
        fprintf(stderr, "options_errors: %d failures\n", g_failures);
        return 1;
    }
    printf("options_errors: OK\n");
    return 0;
}
