/* The default thread count from FUSEDRNN_NUM_THREADS (set by tests/ffi.rs).
 *
 * usage: env_threads N        the variable asks for N threads
 *        env_threads default  unset, empty or 0: one per core
 *        env_threads invalid  malformed: calls that need the default pool refuse, until
 *                             frnn_set_num_threads overrides it */
#include "common.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s N|default|invalid\n", argv[0]);
        return 2;
    }
    frnn_layer_desc d;
    memset(&d, 0, sizeof d);
    d.cell = FRNN_CELL_RNN;
    d.activation = FRNN_ACTIVATION_RELU;
    d.input_size = 2;
    d.hidden_size = 3;
    frnn_layer *layer = NULL;
    CHECK_OK(frnn_layer_create_uniform(&d, 5, &layer));
    float x[2 * 2 * 2] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f};
    float y[2 * 2 * 3];
    size_t n = 0, n_layer = 0;

    if (strcmp(argv[1], "invalid") == 0) {
        CHECK_STATUS(frnn_get_num_threads(&n), FRNN_STATUS_INVALID_VALUE);
        CHECK(strstr(frnn_last_error_message(), "FUSEDRNN_NUM_THREADS: must be an integer") ==
              frnn_last_error_message());
        CHECK_STATUS(frnn_layer_forward(layer, 2, 2, x, 8, NULL, 0, NULL, 0, y, 12, NULL, 0, NULL, 0),
                     FRNN_STATUS_INVALID_VALUE);
        CHECK_STATUS(frnn_layer_get_num_threads(layer, &n_layer), FRNN_STATUS_INVALID_VALUE);
        CHECK(n == 0 && n_layer == 0);
        /* A layer with its own threads does not need the default. */
        CHECK_OK(frnn_layer_set_num_threads(layer, 2));
        CHECK_OK(frnn_layer_forward(layer, 2, 2, x, 8, NULL, 0, NULL, 0, y, 12, NULL, 0, NULL, 0));
        CHECK_OK(frnn_layer_set_num_threads(layer, 0));
        /* The process-wide setting overrides the variable. */
        CHECK_OK(frnn_set_num_threads(2));
        CHECK_OK(frnn_get_num_threads(&n));
        CHECK(n == 2);
        CHECK_OK(frnn_layer_forward(layer, 2, 2, x, 8, NULL, 0, NULL, 0, y, 12, NULL, 0, NULL, 0));
    } else {
        CHECK_OK(frnn_get_num_threads(&n));
        CHECK_OK(frnn_layer_get_num_threads(layer, &n_layer));
        CHECK(n == n_layer && n >= 1);
        if (strcmp(argv[1], "default") != 0) CHECK(n == (size_t)strtoul(argv[1], NULL, 10));
        CHECK_OK(frnn_layer_forward(layer, 2, 2, x, 8, NULL, 0, NULL, 0, y, 12, NULL, 0, NULL, 0));
        /* frnn_set_num_threads(0) goes back to the variable's value. */
        CHECK_OK(frnn_set_num_threads(1));
        CHECK_OK(frnn_set_num_threads(0));
        size_t again = 0;
        CHECK_OK(frnn_get_num_threads(&again));
        CHECK(again == n);
    }
    frnn_layer_destroy(layer);
    if (g_failures) {
        fprintf(stderr, "env_threads %s: %d failures\n", argv[1], g_failures);
        return 1;
    }
    printf("env_threads: OK\n");
    return 0;
}
