/* Minimal program for the CMake example: a GRU layer's inference forward. */
#include <fusedrnn.h>
#include <stdio.h>

int main(void) {
    enum { T = 4, N = 1, I = 2, H = 3 };
    frnn_layer_desc desc = {0};
    desc.cell = FRNN_CELL_GRU;
    desc.gru_variant = FRNN_GRU_VARIANT_LINEAR_BEFORE_RESET;
    desc.input_size = I;
    desc.hidden_size = H;

    frnn_layer *layer = NULL;
    frnn_status s = frnn_layer_create_uniform(&desc, 42, &layer);
    if (s != FRNN_STATUS_OK) {
        fprintf(stderr, "%s: %s\n", frnn_status_str(s), frnn_last_error_message());
        return 1;
    }
    float x[T * N * I] = {0.5f, -0.5f, 0.25f, 0.0f, 1.0f, 0.75f, -1.0f, 0.125f};
    float y[T * N * H];
    s = frnn_layer_forward(layer, T, N, x, T * N * I, NULL, 0, NULL, 0, y, T * N * H, NULL, 0,
                           NULL, 0);
    if (s != FRNN_STATUS_OK) {
        fprintf(stderr, "%s: %s\n", frnn_status_str(s), frnn_last_error_message());
        frnn_layer_destroy(layer);
        return 1;
    }
    printf("fusedrnn %s: h_T = [%f, %f, %f]\n", frnn_version(), y[(T - 1) * H], y[(T - 1) * H + 1],
           y[(T - 1) * H + 2]);
    frnn_layer_destroy(layer);
    return 0;
}
