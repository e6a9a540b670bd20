// C++17: threads sharing layer handles, and thread-count control.
//
// - results are bitwise identical with 1, 2 and 3 threads, per layer and process-wide;
// - several std::threads run inference on one layer and training (each with its own
//   workspace) on the same layer at once, getting bitwise the single-threaded results;
// - frnn_layer_set_weights while other threads run forwards: each forward sees either the
//   old or the new weights, never a mix;
// - two threads training on one shared workspace are serialised (memory-safe): what succeeds
//   is the lone result, a backward-weights after the other thread's forward is refused;
// - the last-error message is per thread;
// - several std::threads run inference (and seeded-dropout training, each with its own
//   workspace) on one shared stack handle at once, every result bitwise equal to a
//   single-threaded run.
#include "fusedrnn.h"

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

std::atomic<int> failures{0};

void check(bool ok, const char *what, int line) {
    if (!ok) {
        std::fprintf(stderr, "threads.cpp:%d: CHECK failed: %s\n", line, what);
        failures++;
    }
}
#define CHECK(c) check((c), #c, __LINE__)
#define CHECK_OK(call)                                                                         \
    do {                                                                                       \
        frnn_status s_ = (call);                                                               \
        if (s_ != FRNN_STATUS_OK) {                                                            \
            std::fprintf(stderr, "threads.cpp:%d: %s returned %s (%s)\n", __LINE__, #call,     \
                         frnn_status_str(s_), frnn_last_error_message());                      \
            failures++;                                                                        \
        }                                                                                      \
    } while (0)

constexpr size_t I = 8, H = 16, T = 6, N = 4;
constexpr size_t NX = T * N * I, NY = T * N * H, NH = N * H;
constexpr size_t WL[4] = {4 * H * I, 4 * H * H, 4 * H, 4 * H};

using Vec = std::vector<float>;

Vec wave(size_t n, float a, float b) {
    Vec v(n);
    for (size_t k = 0; k < n; k++) v[k] = a * std::sin(b * static_cast<float>(k) + 0.3f);
    return v;
}

bool same(const Vec &a, const Vec &b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

struct Inputs {
    Vec x = wave(NX, 1.0f, 0.37f), h0 = wave(NH, 0.5f, 0.11f), c0 = wave(NH, 0.5f, 0.23f);
    Vec dy = wave(NY, 1.0f, 0.53f);
};

struct Results {
    Vec y, dx, dh0;
    Vec g[4];
};

Results infer(const frnn_layer *layer, const Inputs &in) {
    Results r;
    r.y.assign(NY, NAN);
    CHECK_OK(frnn_layer_forward(layer, T, N, in.x.data(), NX, in.h0.data(), NH, in.c0.data(), NH,
                                r.y.data(), NY, nullptr, 0, nullptr, 0));
    return r;
}

Results train(const frnn_layer *layer, frnn_workspace *ws, const Inputs &in) {
    Results r;
    r.y.assign(NY, NAN);
    r.dx.assign(NX, NAN);
    r.dh0.assign(NH, NAN);
    for (int k = 0; k < 4; k++) r.g[k].assign(WL[k], NAN);
    CHECK_OK(frnn_layer_forward_train(layer, ws, T, N, in.x.data(), NX, in.h0.data(), NH,
                                      in.c0.data(), NH, r.y.data(), NY, nullptr, 0, nullptr, 0));
    CHECK_OK(frnn_layer_backward_data(layer, ws, in.dy.data(), NY, nullptr, 0, nullptr, 0,
                                      r.dx.data(), NX, r.dh0.data(), NH, nullptr, 0));
    CHECK_OK(frnn_layer_backward_weights(layer, ws, in.x.data(), NX, r.g[0].data(), WL[0],
                                         r.g[1].data(), WL[1], r.g[2].data(), WL[2],
                                         r.g[3].data(), WL[3], FRNN_GRAD_MODE_OVERWRITE));
    return r;
}

bool same_training(const Results &a, const Results &b) {
    bool ok = same(a.y, b.y) && same(a.dx, b.dx) && same(a.dh0, b.dh0);
    for (int k = 0; k < 4; k++) ok = ok && same(a.g[k], b.g[k]);
    return ok;
}

size_t layer_threads(const frnn_layer *layer) {
    size_t n = 0;
    CHECK_OK(frnn_layer_get_num_threads(layer, &n));
    return n;
}

}  // namespace

int main() {
    frnn_layer_desc d{};
    d.cell = FRNN_CELL_LSTM;
    d.input_size = I;
    d.hidden_size = H;
    frnn_layer *layer = nullptr;
    CHECK_OK(frnn_layer_create_uniform(&d, 11, &layer));
    const Inputs in;
    frnn_workspace *ws = nullptr;
    CHECK_OK(frnn_workspace_create_for(layer, T, N, &ws));

    // Thread counts: per layer, then process-wide.
    CHECK_OK(frnn_layer_set_num_threads(layer, 1));
    CHECK(layer_threads(layer) == 1);
    const Results one = infer(layer, in);
    const Results one_train = train(layer, ws, in);
    for (size_t n : {2, 3}) {
        CHECK_OK(frnn_layer_set_num_threads(layer, n));
        CHECK(layer_threads(layer) == n);
        CHECK(same(infer(layer, in).y, one.y));
        CHECK(same_training(train(layer, ws, in), one_train));
    }
    CHECK_OK(frnn_layer_set_num_threads(layer, 0));  // back to the process-wide setting
    CHECK_OK(frnn_set_num_threads(3));
    size_t global = 0;
    CHECK_OK(frnn_get_num_threads(&global));
    CHECK(global == 3);
    CHECK(layer_threads(layer) == 3);
    CHECK(same_training(train(layer, ws, in), one_train));
    CHECK_OK(frnn_set_num_threads(1));
    CHECK(layer_threads(layer) == 1);
    CHECK(same(infer(layer, in).y, one.y));
    CHECK_OK(frnn_set_num_threads(0));
    CHECK_OK(frnn_get_num_threads(&global));
    CHECK(global >= 1);

    // Many threads on one layer (with its own 2 threads): inference and training at once.
    CHECK_OK(frnn_layer_set_num_threads(layer, 2));
    {
        std::vector<std::thread> pool;
        for (int t = 0; t < 6; t++) {
            pool.emplace_back([&, t] {
                if (t % 2 == 0) {
                    for (int it = 0; it < 4; it++) CHECK(same(infer(layer, in).y, one.y));
                } else {
                    frnn_workspace *mine = nullptr;
                    CHECK_OK(frnn_workspace_create(&mine));
                    for (int it = 0; it < 3; it++) CHECK(same_training(train(layer, mine, in), one_train));
                    frnn_workspace_destroy(mine);
                }
            });
        }
        for (auto &th : pool) th.join();
    }

    // Set weights while other threads run forwards: each sees the old or the new weights.
    Vec w_old[4], w_new[4];
    for (int k = 0; k < 4; k++) {
        w_old[k].assign(WL[k], 0.0f);
        w_new[k] = wave(WL[k], 0.2f, 0.71f + static_cast<float>(k));
    }
    CHECK_OK(frnn_layer_get_weights(layer, w_old[0].data(), WL[0], w_old[1].data(), WL[1],
                                    w_old[2].data(), WL[2], w_old[3].data(), WL[3]));
    auto set = [&](Vec *w) {
        CHECK_OK(frnn_layer_set_weights(layer, w[0].data(), WL[0], w[1].data(), WL[1], w[2].data(),
                                        WL[2], w[3].data(), WL[3]));
    };
    set(w_new);
    const Vec y_new = infer(layer, in).y;
    set(w_old);
    CHECK(same(infer(layer, in).y, one.y));
    CHECK(!same(y_new, one.y));
    {
        std::atomic<bool> done{false};
        std::atomic<int> saw_new{0};
        std::vector<std::thread> readers;
        for (int t = 0; t < 3; t++) {
            readers.emplace_back([&] {
                for (int it = 0; it < 6 || !done; it++) {
                    Vec y = infer(layer, in).y;
                    bool is_new = same(y, y_new);
                    CHECK(is_new || same(y, one.y));
                    saw_new += is_new;
                    if (it > 1000) break;
                }
            });
        }
        for (int it = 0; it < 6; it++) set(it % 2 == 0 ? w_new : w_old);
        done = true;
        for (auto &th : readers) th.join();
        CHECK(same(infer(layer, in).y, one.y));  // the last set was the old weights
    }

    // Two threads training on one workspace: each call is serialised, but the two threads'
    // sequences interleave. A forward always refills the workspace (and backward-data then
    // reads whichever forward ran last: same layer, same inputs, same numbers); a
    // backward-weights right after the other thread's forward finds the gate gradients gone
    // and says so. Whatever succeeds is bitwise the lone result; afterwards the workspace
    // serves a lone sequence as before.
    {
        auto racing = [&] {
            for (int it = 0; it < 3; it++) {
                Results r;
                r.y.assign(NY, NAN);
                r.dx.assign(NX, NAN);
                r.dh0.assign(NH, NAN);
                for (int k = 0; k < 4; k++) r.g[k].assign(WL[k], NAN);
                CHECK_OK(frnn_layer_forward_train(layer, ws, T, N, in.x.data(), NX, in.h0.data(), NH,
                                                  in.c0.data(), NH, r.y.data(), NY, nullptr, 0, nullptr, 0));
                CHECK(same(r.y, one_train.y));
                CHECK_OK(frnn_layer_backward_data(layer, ws, in.dy.data(), NY, nullptr, 0, nullptr, 0,
                                                  r.dx.data(), NX, r.dh0.data(), NH, nullptr, 0));
                CHECK(same(r.dx, one_train.dx) && same(r.dh0, one_train.dh0));
                frnn_status s = frnn_layer_backward_weights(
                    layer, ws, in.x.data(), NX, r.g[0].data(), WL[0], r.g[1].data(), WL[1],
                    r.g[2].data(), WL[2], r.g[3].data(), WL[3], FRNN_GRAD_MODE_OVERWRITE);
                CHECK(s == FRNN_STATUS_OK || s == FRNN_STATUS_WORKSPACE);
                for (int k = 0; k < 4; k++) {
                    // Written on success only.
                    CHECK(s == FRNN_STATUS_OK ? same(r.g[k], one_train.g[k])
                                              : std::isnan(r.g[k][0]) && std::isnan(r.g[k][WL[k] - 1]));
                }
            }
        };
        std::thread a(racing);
        std::thread b(racing);
        a.join();
        b.join();
        CHECK(same_training(train(layer, ws, in), one_train));
    }

    // The last-error message belongs to the thread.
    {
        std::atomic<int> stage{0};
        std::string seen_before, seen_after;
        std::thread t([&] {
            Vec y(NY);
            frnn_status s = frnn_layer_forward(layer, T, N, in.x.data(), NX - 1, nullptr, 0,
                                               nullptr, 0, y.data(), NY, nullptr, 0, nullptr, 0);
            CHECK(s == FRNN_STATUS_LENGTH_MISMATCH);
            seen_before = frnn_last_error_message();
            stage = 1;
            while (stage != 2) std::this_thread::yield();
            seen_after = frnn_last_error_message();
        });
        while (stage != 1) std::this_thread::yield();
        Vec y(NY);
        CHECK_OK(frnn_layer_forward(layer, T, N, in.x.data(), NX, nullptr, 0, nullptr, 0, y.data(),
                                    NY, nullptr, 0, nullptr, 0));
        CHECK(std::string(frnn_last_error_message()).empty());
        stage = 2;
        t.join();
        CHECK(seen_before == "x: expected " + std::to_string(NX) + " elements, got " + std::to_string(NX - 1));
        CHECK(seen_after == seen_before);
    }

    // Many threads on one stack: a 2-layer bidirectional LSTM with a projection and peepholes.
    {
        frnn_stack_desc sd{};
        sd.cell = FRNN_CELL_LSTM;
        sd.direction = FRNN_DIRECTION_BIDIRECTIONAL;
        sd.input_size = I;
        sd.hidden_size = H;
        sd.num_layers = 2;
        CHECK_OK(frnn_stack_desc_set_proj_size(&sd, 5));
        CHECK_OK(frnn_stack_desc_set_peepholes(&sd, 1));
        size_t kc = 0, wo = 0;
        CHECK_OK(frnn_stack_desc_sizes(&sd, &kc, &wo));
        CHECK(kc == 4 && wo == 10);
        frnn_stack *stack = nullptr;
        CHECK_OK(frnn_stack_create_uniform(&sd, 21, &stack));
        const size_t sy = T * N * wo, sh = kc * N * 5, sc = kc * N * H;
        const Vec h0 = wave(sh, 0.5f, 0.19f), c0 = wave(sc, 0.5f, 0.29f);
        const size_t lengths[N] = {T, T - 1, 1, T};
        struct StackRun {
            Vec y, h_n, c_n;
        };
        auto infer_stack = [&](bool with_lengths) {
            StackRun r{Vec(sy, NAN), Vec(sh, NAN), Vec(sc, NAN)};
            if (with_lengths)
                CHECK_OK(frnn_stack_forward_lengths(stack, T, N, lengths, N, in.x.data(), NX,
                                                    h0.data(), sh, c0.data(), sc, r.y.data(), sy,
                                                    r.h_n.data(), sh, r.c_n.data(), sc));
            else
                CHECK_OK(frnn_stack_forward(stack, T, N, in.x.data(), NX, h0.data(), sh, c0.data(),
                                            sc, r.y.data(), sy, r.h_n.data(), sh, r.c_n.data(),
                                            sc));
            return r;
        };
        auto train_stack = [&](frnn_stack_workspace *sws) {
            StackRun r{Vec(sy, NAN), Vec(sh, NAN), Vec(sc, NAN)};
            CHECK_OK(frnn_stack_forward_train_dropout(
                stack, sws, T, N, nullptr, 0.3f, 0.2f, 77, in.x.data(), NX, h0.data(), sh,
                c0.data(), sc, r.y.data(), sy, r.h_n.data(), sh, r.c_n.data(), sc));
            return r;
        };
        auto same_run = [](const StackRun &a, const StackRun &b) {
            return same(a.y, b.y) && same(a.h_n, b.h_n) && same(a.c_n, b.c_n);
        };
        CHECK_OK(frnn_stack_set_num_threads(stack, 1));
        const StackRun ref = infer_stack(false), ref_len = infer_stack(true);
        CHECK(!same(ref.y, ref_len.y));
        frnn_stack_workspace *sws = nullptr;
        CHECK_OK(frnn_stack_workspace_create(&sws));
        const StackRun ref_train = train_stack(sws);
        CHECK(!same(ref_train.y, ref.y));
        for (size_t threads : {2, 0}) {  // the stack's own 2 threads, then the process-wide pool
            CHECK_OK(frnn_stack_set_num_threads(stack, threads));
            std::vector<std::thread> pool;
            for (int t = 0; t < 6; t++) {
                pool.emplace_back([&, t] {
                    if (t == 5) {
                        frnn_stack_workspace *mine = nullptr;
                        CHECK_OK(frnn_stack_workspace_create(&mine));
                        for (int it = 0; it < 3; it++) CHECK(same_run(train_stack(mine), ref_train));
                        frnn_stack_workspace_destroy(mine);
                        return;
                    }
                    for (int it = 0; it < 4; it++) {
                        bool lens = (t + it) % 2 == 1;
                        CHECK(same_run(infer_stack(lens), lens ? ref_len : ref));
                    }
                });
            }
            for (auto &th : pool) th.join();
        }
        frnn_stack_workspace_destroy(sws);
        frnn_stack_destroy(stack);
    }

    frnn_workspace_destroy(ws);
    frnn_layer_destroy(layer);
    if (failures) {
        std::fprintf(stderr, "threads: %d failures\n", failures.load());
        return 1;
    }
    std::printf("threads: OK\n");
    return 0;
}
