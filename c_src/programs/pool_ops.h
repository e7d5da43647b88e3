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

// y[i] for the tile's n_out atoms; argmax[i] (max pooling) the winning input, as an index into x.
static inline void pool_forward(const params_t *p, const float *x, float *y, uint *argmax, uint n_out) {
    uint taps = 0;
    for (uint i = 0; i < n_out; i++) {
        conv_window_t win = conv_window(p, p->atom_lo + i);
        uint count = window_taps(&win);
        float best = 0.0f, sum = 0.0f;
        uint best_at = 0, seen = 0;
        for (uint ky = win.ky0; ky < win.ky1; ky++) {
            for (uint kx = win.kx0; kx < win.kx1; kx++) {
                uint at = window_input(p, &win, ky, kx) + win.channel;
                float v = x[at];
                if (seen++ == 0 || v > best) {
                    best = v;
                    best_at = at;
                }
                sum += v;
            }
        }
        taps += count;
        if (p->pool == POOL_MAX) {
            y[i] = best;
            argmax[i] = best_at;
        } else {
            y[i] = count ? sum / (float) count : 0.0f;
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
    for (uint j = 0; j < n_x; j++) {
        dx[j] = 0.0f;
    }
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
