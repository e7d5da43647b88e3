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

// The window of the output at row oy, column ox (of out_h x out_w) and channel `channel`.
static inline conv_window_t conv_window_at(const params_t *p, uint oy, uint ox, uint channel) {
    conv_window_t w;
    w.channel = channel;
    w.y0 = (int) (oy * p->stride_h) - (int) p->pad_top;
    w.x0 = (int) (ox * p->stride_w) - (int) p->pad_left;
    w.ky1 = clip_taps(w.y0, p->kernel_h, p->in_h, &w.ky0);
    w.kx1 = clip_taps(w.x0, p->kernel_w, p->in_w, &w.kx0);
    return w;
}

static inline conv_window_t conv_window(const params_t *p, uint atom) {
    SPINN_ACCOUNT(SPINN_OP_UDIV, 2);  // the atom's position and channel; its row and column
    uint position = atom / p->out_c;
    return conv_window_at(p, position / p->out_w, position % p->out_w, atom % p->out_c);
}

// Index into x (inputs from in_lo) of channel 0 at tap (ky, kx) of a window.
static inline uint window_input(const params_t *p, const conv_window_t *w, uint ky, uint kx) {
    return ((uint) (w->y0 + (int) ky) * p->in_w + (uint) (w->x0 + (int) kx)) * p->in_c - p->in_lo;
}

static inline uint window_taps(const conv_window_t *w) {
    return (w->ky1 - w->ky0) * (w->kx1 - w->kx0);
}

// Marks in `covered` the inputs of one window not marked yet, channels [c0, c1) of each tap;
// returns how many it marked.
static inline uint cover_window(const params_t *p, const conv_window_t *win, uint c0, uint c1, uint32_t *covered,
                                uint n_x) {
    uint n = 0;
    for (uint ky = win->ky0; ky < win->ky1; ky++) {
        for (uint kx = win->kx0; kx < win->kx1; kx++) {
            for (uint c = c0; c < c1; c++) {
                uint at = window_input(p, win, ky, kx) + c;
                if (at < n_x && !(covered[at >> 5] & (1u << (at & 31)))) {
                    covered[at >> 5] |= 1u << (at & 31);
                    n++;
                }
            }
        }
    }
    return n;
}

static inline void zero_floats(float *v, uint n) {
    for (uint j = 0; j < n; j++) {
        v[j] = 0.0f;
    }
}

static inline void clear_cover(uint32_t *covered, uint n_x) {
    for (uint j = 0; j < (n_x + 31) / 32; j++) {
        covered[j] = 0;
    }
}

// Sets a bit in `covered` (zeroed here; a bit per input of [in_lo, in_hi)) for each input some
// receptive field of the tile's atoms reads: every input channel of a convolution's taps, the
// output's own channel of a pooling window.  Returns how many are set: spinn_dnn.tiling counts
// them the same way (n_in_needed), and only their errors go back.
static inline uint receptive_cover(const params_t *p, uint per_channel, uint32_t *covered, uint n_x) {
    clear_cover(covered, n_x);
    uint n = 0;
    for (uint atom = p->atom_lo; atom < p->atom_hi; atom++) {
        conv_window_t win = conv_window(p, atom);
        n += cover_window(p, &win, per_channel ? win.channel : 0, per_channel ? win.channel + 1 : p->in_c,
                          covered, n_x);
    }
    return n;
}

// One output before the activation: the kernel row (bias last) over the window's taps.
static inline float conv_dot(const params_t *p, const conv_window_t *win, const float *row, const float *x) {
    // a window row's taps, all channels of each, lie side by side in x and in the kernel row:
    // one run per row, summed in the same order as tap by tap and channel by channel
    float acc = 0.0f;
    uint run = (win->kx1 - win->kx0) * p->in_c;
    for (uint ky = win->ky0; run && ky < win->ky1; ky++) {
        const float *xi = &x[window_input(p, win, ky, win->kx0)];
        const float *wi = &row[(ky * p->kernel_w + win->kx0) * p->in_c];
        for (uint j = 0; j < run; j++) {
            acc += wi[j] * xi[j];
        }
    }
    return acc + row[p->kernel_h * p->kernel_w * p->in_c];
}

// One output's share of the backward pass, given its dL/dz d: the kernel gradient row (bias
// last) += d x over the window, and dx (if any) += W d.
static inline void conv_backward_at(const params_t *p, const conv_window_t *win, const float *row, float *grow,
                                    const float *x, float d, float *dx) {
    // by window row, as conv_dot: each gradient and dx element takes one term, so the order of
    // the runs does not change a value
    uint run = (win->kx1 - win->kx0) * p->in_c;
    for (uint ky = win->ky0; run && ky < win->ky1; ky++) {
        uint at = window_input(p, win, ky, win->kx0);
        uint k = (ky * p->kernel_w + win->kx0) * p->in_c;
        for (uint j = 0; j < run; j++) {
            grow[k + j] += d * x[at + j];
        }
        if (dx) {
            for (uint j = 0; j < run; j++) {
                dx[at + j] += row[k + j] * d;
            }
        }
    }
    if (p->use_bias) {  // a layer without a bias keeps its zero column at zero
        grow[p->kernel_h * p->kernel_w * p->in_c] += d;
    }
}

// y[i] = kernel . receptive field + bias, for the tile's n_out atoms (before the activation).
static inline void conv_forward(const params_t *p, const float *w, uint row_length, const uint *row_of,
                                const float *x, float *y, uint n_out) {
    uint taps = 0;
    for (uint i = 0; i < n_out; i++) {
        conv_window_t win = conv_window(p, p->atom_lo + i);
        y[i] = conv_dot(p, &win, &w[row_of[win.channel] * row_length], x);
        taps += window_taps(&win);
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
    uint taps = 0;
    if (dx) {
        zero_floats(dx, n_x);
    }
    for (uint i = 0; i < n_out; i++) {
        conv_window_t win = conv_window(p, p->atom_lo + i);
        uint r = row_of[win.channel];
        conv_backward_at(p, &win, &w[r * row_length], &g[r * row_length], x, dz[i], dx);
        taps += window_taps(&win);
    }
    SPINN_ACCOUNT(SPINN_OP_FMAC, taps * p->in_c * (dx ? 2 : 1) + n_out);
    SPINN_ACCOUNT(SPINN_OP_WORD, 12 * n_out + 4 * taps + (dx ? n_x : 0));
}

#endif  // SPINN_CONV_OPS_H
