/* The README's C example: an LSTM layer, inference, one training step's gradients. */
#include <fusedrnn.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(call)                                                           \
    do {                                                                      \
        frnn_status s_ = (call);                                              \
        if (s_ != FRNN_STATUS_OK) {                                           \
            fprintf(stderr, "%s: %s\n", frnn_status_str(s_), frnn_last_error_message()); \
            exit(1);                                                          \
        }                                                                     \
    } while (0)

int main(void) {
    enum { T = 5, N = 2, I = 3, H = 4 };
    frnn_layer_desc desc = {0};
    desc.cell = FRNN_CELL_LSTM; /* or FRNN_CELL_GRU (+ gru_variant), FRNN_CELL_RNN (+ activation) */
    desc.input_size = I;
    desc.hidden_size = H;

    size_t w_ih_len, w_hh_len, b_len;
    CHECK(frnn_desc_weight_lens(&desc, &w_ih_len, &w_hh_len, &b_len));
    float *w_ih = calloc(w_ih_len, sizeof(float)), *w_hh = calloc(w_hh_len, sizeof(float));
    float *b_ih = calloc(b_len, sizeof(float)), *b_hh = calloc(b_len, sizeof(float));
    for (size_t k = 0; k < w_ih_len; k++) w_ih[k] = 0.01f * (float)(k % 7);
    for (size_t k = 0; k < w_hh_len; k++) w_hh[k] = -0.02f * (float)(k % 5);

    frnn_layer *layer = NULL; /* weights in PyTorch's layout: W_ih [4H, I], W_hh [4H, H], ... */
    CHECK(frnn_layer_create(&desc, w_ih, w_ih_len, w_hh, w_hh_len, b_ih, b_len, b_hh, b_len, &layer));

    float x[T * N * I], y[T * N * H], h_n[N * H], c_n[N * H];
    for (size_t k = 0; k < T * N * I; k++) x[k] = 0.1f * (float)k;

    /* Inference: NULL initial states are zeros; h_n and c_n are optional outputs. */
    CHECK(frnn_layer_forward(layer, T, N, x, T * N * I, NULL, 0, NULL, 0, y, T * N * H, h_n, N * H,
                             c_n, N * H));
    printf("y[0] = %f, h_n[0] = %f\n", y[0], h_n[0]);

    /* Training: forward into a workspace, then backward-data and backward-weights. */
    frnn_workspace *ws = NULL;
    CHECK(frnn_workspace_create(&ws));
    CHECK(frnn_layer_forward_train(layer, ws, T, N, x, T * N * I, NULL, 0, NULL, 0, y, T * N * H,
                                   NULL, 0, NULL, 0));
    float dy[T * N * H], dx[T * N * I];
    for (size_t k = 0; k < T * N * H; k++) dy[k] = 1.0f; /* dLoss/dY */
    CHECK(frnn_layer_backward_data(layer, ws, dy, T * N * H, NULL, 0, NULL, 0, dx, T * N * I, NULL, 0,
                                   NULL, 0));
    float *dw_ih = calloc(w_ih_len, sizeof(float)), *dw_hh = calloc(w_hh_len, sizeof(float));
    float *db_ih = calloc(b_len, sizeof(float)), *db_hh = calloc(b_len, sizeof(float));
    CHECK(frnn_layer_backward_weights(layer, ws, x, T * N * I, dw_ih, w_ih_len, dw_hh, w_hh_len,
                                      db_ih, b_len, db_hh, b_len, FRNN_GRAD_MODE_OVERWRITE));
    printf("dx[0] = %f, dW_ih[0] = %f\n", dx[0], dw_ih[0]);

    /* Errors come back as a status plus a message. */
    frnn_status s = frnn_layer_forward(layer, T, N, x, 7, NULL, 0, NULL, 0, y, T * N * H, NULL, 0,
                                       NULL, 0);
    printf("%s: %s\n", frnn_status_str(s), frnn_last_error_message());

    frnn_workspace_destroy(ws);
    frnn_layer_destroy(layer);
    free(w_ih), free(w_hh), free(b_ih), free(b_hh);
    free(dw_ih), free(dw_hh), free(db_ih), free(db_hh);
    return s == FRNN_STATUS_LENGTH_MISMATCH ? 0 : 1;
}
