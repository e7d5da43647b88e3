// The arithmetic of a convolution tile (Keras Conv2D, and Conv1D as H = 1):
// its output atoms, flat in channels-last order, from the input atoms
// [in_lo, in_hi) its receptive fields cover, held in x.  A kernel row is the
// filter flattened (kh, kw, cin) with the bias last, as spinn_dnn.regions
// writes it; row_of[channel] says which of the tile's rows holds a filter.
// Positions outside the input ('same' padding) read as zero.
#ifndef SPINN_CONV_OPS_H
#define SPINN_CONV_OPS_H

#include "spinn_dnn_regions.h"
#include "spinn_program.h"

// The window of output atom `atom`: its channel, the input position of its top-left tap,
// and the taps [ky0, ky1) x [kx0, kx1) that fall inside the image (the rest read zero).
typedef struct {
    uint channel;
    int y0, x0;
    uint ky0, ky1, kx0, kx1;
} conv_window_t;

static inline uint clip_taps(int start, uint taps, uint size, uint *first) {
    int lo = start < 0 ? -start : 0;
    int hi = (int) size - start < (int) taps ? (int) size - start : (int) taps;
    *first = (uint) lo;
    return hi > lo ? (uint) hi : (uint) lo;
}

static inline conv_window_t conv_window(const params_t *p, uint atom) {
    conv_window_t w;
    uint position = atom / p->out_c;
    w.channel = atom % p->out_c;
    w.y0 = (int) ((position / p->out_w) * p->stride_h) - (int) p->pad_top;
    w.x0 = (int) ((position % p->out_w) * p->stride_w) - (int) p->pad_left;
    w.ky1 = clip_taps(w.y0, p->kernel_h, p->in_h, &w.ky0);
    w.kx1 = clip_taps(w.x0, p->kernel_w, p->in_w, &w.kx0);
    return w;
}

// Index into x (inputs from in_lo) of channel 0 at tap (ky, kx) of a window.
static inline uint window_input(const params_t *p, const conv_window_t *w, uint ky, uint kx) {
    return ((uint) (w->y0 + (int) ky) * p->in_w + (uint) (w->x0 + (int) kx)) * p->in_c - p->in_lo;
}

static inline uint window_taps(const conv_window_t *w) {
    return (w->ky1 - w->ky0) * (w->kx1 - w->kx0);
}

// Sets a bit in `covered` (zeroed here; a bit per input of [in_lo, in_hi)) for each input some
// receptive field of the tile's atoms reads: every input channel of a convolution's taps, the
// output's own channel of a pooling window.  Returns how many are set: spinn_dnn.tiling counts
// them the same way (n_in_needed), and only their errors go back.
static inline uint receptive_cover(const params_t *p, uint per_channel, uint32_t *covered, uint n_x) {
    for (uint j = 0; j < (n_x + 31) / 32; j++) {
        covered[j] = 0;
    }
    uint n = 0;
    for (uint atom = p->atom_lo; atom < p->atom_hi; atom++) {
        conv_window_t win = conv_window(p, atom);
        uint c0 = per_channel ? win.channel : 0, c1 = per_channel ? win.channel + 1 : p->in_c;
        for (uint ky = win.ky0; ky < win.ky1; ky++) {
            for (uint kx = win.kx0; kx < win.kx1; kx++) {
                for (uint c = c0; c < c1; c++) {
                    uint at = window_input(p, &win, ky, kx) + c;
                    if (at < n_x && !(covered[at >> 5] & (1u << (at & 31)))) {
                        covered[at >> 5] |= 1u << (at & 31);
                        n++;
                    }
                }
            }
        }
    }
    return n;
}

// y[i] = kernel . receptive field + bias, for the tile's n_out atoms (before the activation).
static inline void conv_forward(const params_t *p, const float *w, uint row_length, const uint *row_of,
                                const float *x, float *y, uint n_out) {
    uint fan_in = row_length - 1, taps = 0;
    for (uint i = 0; i < n_out; i++) {
        conv_window_t win = conv_window(p, p->atom_lo + i);
        const float *row = &w[row_of[win.channel] * row_length];
        float acc = 0.0f;
        for (uint ky = win.ky0; ky < win.ky1; ky++) {
            for (uint kx = win.kx0; kx < win.kx1; kx++) {
                const float *xi = &x[window_input(p, &win, ky, kx)];
                const float *wi = &row[(ky * p->kernel_w + kx) * p->in_c];
                for (uint c = 0; c < p->in_c; c++) {
                    acc += wi[c] * xi[c];
                }
            }
        }
        taps += window_taps(&win);
        y[i] = acc + row[fan_in];
    }
    SPINN_ACCOUNT(SPINN_OP_FMAC, taps * p->in_c);
    SPINN_ACCOUNT(SPINN_OP_WORD, 12 * n_out + 4 * taps);
    SPINN_ACCOUNT(SPINN_OP_FADD, n_out);
}

// The backward pass of the tile's atoms given dL/dz: dx (n_x inputs, zeroed here) += W^T dz
// over each receptive field, and the kernel gradient g (same rows as w) += dz x^T, bias last.
static inline void conv_backward(const params_t *p, const float *w, float *g, uint row_length,
                                 const uint *row_of, const float *x, const float *dz, float *dx, uint n_x,
                                 uint n_out) {
    uint fan_in = row_length - 1, taps = 0;
    if (dx) {
        for (uint j = 0; j < n_x; j++) {
            dx[j] = 0.0f;
        }
    }
    for (uint i = 0; i < n_out; i++) {
        conv_window_t win = conv_window(p, p->atom_lo + i);
        uint r = row_of[win.channel];
        const float *row = &w[r * row_length];
        float *grow = &g[r * row_length];
        float d = dz[i];
        for (uint ky = win.ky0; ky < win.ky1; ky++) {
            for (uint kx = win.kx0; kx < win.kx1; kx++) {
                uint at = window_input(p, &win, ky, kx);
                uint k = (ky * p->kernel_w + kx) * p->in_c;
                for (uint c = 0; c < p->in_c; c++) {
                    grow[k + c] += d * x[at + c];
                }
                if (dx) {
                    for (uint c = 0; c < p->in_c; c++) {
                        dx[at + c] += row[k + c] * d;
                    }
                }
            }
        }
        taps += window_taps(&win);
        if (p->use_bias) {  // a layer without a bias keeps its zero column at zero
            grow[fan_in] += d;
        }
    }
    SPINN_ACCOUNT(SPINN_OP_FMAC, taps * p->in_c * (dx ? 2 : 1) + n_out);
    SPINN_ACCOUNT(SPINN_OP_WORD, 12 * n_out + 4 * taps + (dx ? n_x : 0));
}

#endif  // SPINN_CONV_OPS_H
