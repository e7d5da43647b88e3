// The arithmetic of a convolution tile with a pooling layer folded on
// (spinn_dnn.fusion; params.pool is not POOL_NONE on a conv tile).  Its atoms
// are pooled values, flat over pool_out_h x pool_out_w x out_c (channels
// last).  For each one the tile computes the convolution outputs of its
// pooling window (conv_ops.h; out_h x out_w is the convolution's grid),
// applies the activation to each, and pools them: the same values, in the
// same order, as a conv tile followed by a pooling tile (pool_ops.h), without
// the packets between the two.  Backward, the pooled error goes to the
// window's winner (max: the first of equals, as pool_ops.h) or is shared
// evenly over it (average), through the activation's derivative, and on
// through the convolution; the kernel gradient is summed window by window, not
// in a plain conv tile's output order, so its rounding can differ.
//
// For f' max pooling needs only the winner's activation, which is the pooled
// value itself; average pooling keeps every window output's activation.
#ifndef SPINN_CONV_POOL_OPS_H
#define SPINN_CONV_POOL_OPS_H

#include "activation.h"
#include "conv_ops.h"
#include "pool_ops.h"

// The convolution outputs a pooled atom pools: rows [y0, y1) x columns [x0, x1) of the
// convolution's grid (window positions outside it are skipped, as TensorFlow's 'same' pooling).
typedef struct {
    uint channel;
    uint y0, y1, x0, x1;
} pool_span_t;

// The corner of a pooled atom's window in the convolution's grid, before clipping (may be negative).
static inline void pool_corner(const params_t *p, uint atom, int *top, int *left) {
    uint position = atom / p->out_c;
    *top = (int) ((position / p->pool_out_w) * p->pool_stride_h) - (int) p->pool_pad_top;
    *left = (int) ((position % p->pool_out_w) * p->pool_stride_w) - (int) p->pool_pad_left;
}

static inline pool_span_t pool_span(const params_t *p, uint atom) {
    SPINN_ACCOUNT(SPINN_OP_UDIV, 2);  // the atom's position and channel; its row and column
    pool_span_t s;
    s.channel = atom % p->out_c;
    int top, left;
    pool_corner(p, atom, &top, &left);
    uint ky0, kx0;
    uint ky1 = clip_taps(top, p->pool_kernel_h, p->out_h, &ky0);
    uint kx1 = clip_taps(left, p->pool_kernel_w, p->out_w, &kx0);
    s.y0 = (uint) (top + (int) ky0);
    s.y1 = (uint) (top + (int) ky1);
    s.x0 = (uint) (left + (int) kx0);
    s.x1 = (uint) (left + (int) kx1);
    return s;
}

static inline uint pool_span_taps(const pool_span_t *s) {
    return (s->y1 - s->y0) * (s->x1 - s->x0);
}

static inline uint pool_window_size(const params_t *p) {
    return p->pool_kernel_h * p->pool_kernel_w;
}

// The inputs the tile's atoms read (as receptive_cover, conv_ops.h): every input channel of
// the taps of every convolution output in their pooling windows.
static inline uint conv_pool_cover(const params_t *p, uint32_t *covered, uint n_x) {
    clear_cover(covered, n_x);
    uint n = 0;
    for (uint atom = p->atom_lo; atom < p->atom_hi; atom++) {
        pool_span_t s = pool_span(p, atom);
        for (uint cy = s.y0; cy < s.y1; cy++) {
            for (uint cx = s.x0; cx < s.x1; cx++) {
                conv_window_t win = conv_window_at(p, cy, cx, s.channel);
                n += cover_window(p, &win, 0, p->in_c, covered, n_x);
            }
        }
    }
    return n;
}

// y[i], the pooled activation of each of the tile's n_out atoms.  Max pooling: argmax[i] is the
// winner's position in the convolution's grid (row x out_w + column); average pooling: act holds
// each window output's activation (pool_window_size per atom, in window order).
static inline void conv_pool_forward(const params_t *p, const float *w, uint row_length, const uint *row_of,
                                     const float *x, float *y, uint *argmax, float *act, uint n_out) {
    uint taps = 0, outputs = 0;
    for (uint i = 0; i < n_out; i++) {
        pool_span_t s = pool_span(p, p->atom_lo + i);
        const float *row = &w[row_of[s.channel] * row_length];
        pool_acc_t acc = {0.0f, 0.0f, 0, 0};
        for (uint cy = s.y0; cy < s.y1; cy++) {
            for (uint cx = s.x0; cx < s.x1; cx++) {
                conv_window_t win = conv_window_at(p, cy, cx, s.channel);
                float a = conv_dot(p, &win, row, x);
                apply_activation(p->activation, &a, 1);
                taps += window_taps(&win);
                if (act) {
                    act[i * pool_window_size(p) + acc.seen] = a;
                }
                pool_take(&acc, a, cy * p->out_w + cx);
            }
        }
        outputs += acc.seen;
        y[i] = pool_value(p, &acc);
        if (p->pool == POOL_MAX) {
            argmax[i] = acc.best_at;
        }
    }
    SPINN_ACCOUNT(SPINN_OP_FMAC, taps * p->in_c);
    SPINN_ACCOUNT(SPINN_OP_FADD, 2 * outputs);  // the bias, and the max or the sum
    SPINN_ACCOUNT(SPINN_OP_WORD, 12 * outputs + 4 * taps + 12 * n_out);
    if (p->pool != POOL_MAX) {
        SPINN_ACCOUNT(SPINN_OP_FDIV, n_out);
    }
}

// Where a tile keeps the dL/dz of its window outputs, when it sends them (error_routing "deltas",
// kernel kind): d[i * taps + k] for tap k of atom i's window (k = row x pool_kernel_w + column,
// from the window's corner before clipping), and a bit per kept value in `sent`.
typedef struct {
    float *d;
    uint32_t *sent;
} pool_deltas_t;

static inline void keep_delta(const params_t *p, pool_deltas_t *out, uint i, uint cy, uint cx, float d) {
    int top, left;
    SPINN_ACCOUNT(SPINN_OP_UDIV, 2);
    pool_corner(p, p->atom_lo + i, &top, &left);
    uint k = i * pool_window_size(p) + (uint) ((int) cy - top) * p->pool_kernel_w + (uint) ((int) cx - left);
    out->d[k] = d;
    out->sent[k >> 5] |= 1u << (k & 31);
}

// The backward pass given dL/dy of the pooled atoms (dy): dx (n_x inputs, zeroed here, or NULL)
// and the kernel gradient g, through the pooling, the activation and the convolution; with
// `deltas` (or NULL), each window output's dL/dz kept for sending: max pooling the winner's
// only, average pooling every tap inside the grid.
static inline void conv_pool_backward(const params_t *p, const float *w, float *g, uint row_length,
                                      const uint *row_of, const float *x, const float *y, const float *dy,
                                      const uint *argmax, const float *act, float *dx, uint n_x, uint n_out,
                                      pool_deltas_t *deltas) {
    uint taps = 0, outputs = 0;
    if (dx) {
        zero_floats(dx, n_x);
    }
    if (deltas) {
        clear_cover(deltas->sent, n_out * pool_window_size(p));
    }
    for (uint i = 0; i < n_out; i++) {
        pool_span_t s = pool_span(p, p->atom_lo + i);
        uint r = row_of[s.channel];
        const float *row = &w[r * row_length];
        float *grow = &g[r * row_length];
        if (p->pool == POOL_MAX) {  // only the winner's output had an effect
            float d = dy[i], a = y[i];
            activation_backward(p->activation, &a, &d, 1);
            uint cy = argmax[i] / p->out_w, cx = argmax[i] % p->out_w;
            SPINN_ACCOUNT(SPINN_OP_UDIV, 1);
            if (deltas) {
                keep_delta(p, deltas, i, cy, cx, d);
            }
            conv_window_t win = conv_window_at(p, cy, cx, s.channel);
            conv_backward_at(p, &win, row, grow, x, d, dx);
            taps += window_taps(&win);
            outputs++;
            continue;
        }
        uint count = pool_span_taps(&s), k = 0;
        float share = count ? dy[i] / (float) count : 0.0f;
        for (uint cy = s.y0; cy < s.y1; cy++) {
            for (uint cx = s.x0; cx < s.x1; cx++) {
                float d = share;
                activation_backward(p->activation, &act[i * pool_window_size(p) + k++], &d, 1);
                if (deltas) {
                    keep_delta(p, deltas, i, cy, cx, d);
                }
                conv_window_t win = conv_window_at(p, cy, cx, s.channel);
                conv_backward_at(p, &win, row, grow, x, d, dx);
                taps += window_taps(&win);
            }
        }
        outputs += count;
        SPINN_ACCOUNT(SPINN_OP_FDIV, 1);
    }
    SPINN_ACCOUNT(SPINN_OP_FMAC, taps * p->in_c * (dx ? 2 : 1) + outputs);
    SPINN_ACCOUNT(SPINN_OP_WORD, 12 * outputs + 4 * taps + 12 * n_out + (dx ? n_x : 0) + (deltas ? 16 * outputs : 0));
}

#endif  // SPINN_CONV_POOL_OPS_H
