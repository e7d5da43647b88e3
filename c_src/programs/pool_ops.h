// The arithmetic of a pooling tile (Keras MaxPooling2D, AveragePooling2D):
// each output atom (flat, channels last) reads its own channel of a window of
// the input atoms [in_lo, in_hi) held in x.  Window positions outside the
// input ('same' padding) are skipped: the max ignores them and the average
// divides by the positions inside, as TensorFlow does.  Max pooling keeps the
// index of the input that won (the first of equals, in window order) so the
// backward pass can send the error there.
#ifndef SPINN_POOL_OPS_H
#define SPINN_POOL_OPS_H

#include "conv_ops.h"

// One window's pooling, value by value in window order: the max (the first of equals wins)
// and where it was, and the sum (conv_pool_ops.h pools the same way).
typedef struct {
    float best, sum;
    uint best_at, seen;
} pool_acc_t;

static inline void pool_take(pool_acc_t *a, float v, uint at) {
    if (a->seen++ == 0 || v > a->best) {
        a->best = v;
        a->best_at = at;
    }
    a->sum += v;
}

// The pooled value: the max, or the average over the positions seen (those inside the input).
static inline float pool_value(const params_t *p, const pool_acc_t *a) {
    if (p->pool == POOL_MAX) {
        return a->best;
    }
    return a->seen ? a->sum / (float) a->seen : 0.0f;
}

// y[i] for the tile's n_out atoms; argmax[i] (max pooling) the winning input, as an index into x.
static inline void pool_forward(const params_t *p, const float *x, float *y, uint *argmax, uint n_out) {
    uint taps = 0;
    for (uint i = 0; i < n_out; i++) {
        conv_window_t win = conv_window(p, p->atom_lo + i);
        pool_acc_t acc = {0.0f, 0.0f, 0, 0};
        for (uint ky = win.ky0; ky < win.ky1; ky++) {
            for (uint kx = win.kx0; kx < win.kx1; kx++) {
                uint at = window_input(p, &win, ky, kx) + win.channel;
                pool_take(&acc, x[at], at);
            }
        }
        taps += acc.seen;
        y[i] = pool_value(p, &acc);
        if (p->pool == POOL_MAX) {
            argmax[i] = acc.best_at;
        }
    }
    SPINN_ACCOUNT(SPINN_OP_FADD, taps);
    SPINN_ACCOUNT(SPINN_OP_WORD, 12 * n_out + 4 * taps);
    if (p->pool != POOL_MAX) {
        SPINN_ACCOUNT(SPINN_OP_FDIV, n_out);
    }
}

// dx (n_x inputs, zeroed here) from dL/dy of the tile's atoms: to the winner (max) or shared
// evenly over the window (average).
static inline void pool_backward(const params_t *p, const float *dz, const uint *argmax, float *dx, uint n_x,
                                 uint n_out) {
    zero_floats(dx, n_x);
    uint taps = 0;
    for (uint i = 0; i < n_out; i++) {
        if (p->pool == POOL_MAX) {
            dx[argmax[i]] += dz[i];
            taps++;
            continue;
        }
        conv_window_t win = conv_window(p, p->atom_lo + i);
        uint count = window_taps(&win);
        float share = count ? dz[i] / (float) count : 0.0f;
        for (uint ky = win.ky0; ky < win.ky1; ky++) {
            for (uint kx = win.kx0; kx < win.kx1; kx++) {
                dx[window_input(p, &win, ky, kx) + win.channel] += share;
            }
        }
        taps += count;
    }
    SPINN_ACCOUNT(SPINN_OP_FADD, taps + n_x);
    SPINN_ACCOUNT(SPINN_OP_WORD, 12 * n_out + 4 * taps);
}

#endif  // SPINN_POOL_OPS_H
