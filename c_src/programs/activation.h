// Activations of a tile's outputs, in float32 as Keras defines them.  Each
// operation is rounded on its own (the host build has -ffp-contract=off), so
// the host and the ARM build compute the same bits where the C library's
// expf/tanhf agree (they are the one place libraries may differ).
#ifndef SPINN_ACTIVATION_H
#define SPINN_ACTIVATION_H

#include <math.h>

#include "spinn_dnn_regions.h"
#include "spinn_program.h"

// Applies `activation` to y[0..n) in place; softmax over those n (the whole layer
// must be on this tile).  Returns FALSE for an activation this code lacks.
static inline uint apply_activation(uint activation, float *y, uint n) {
    switch (activation) {
    case ACT_IDENTITY:
        return TRUE;
    case ACT_RELU:
        for (uint i = 0; i < n; i++) {
            y[i] = y[i] > 0.0f ? y[i] : 0.0f;
        }
        SPINN_ACCOUNT(SPINN_OP_FADD, n);
        return TRUE;
    case ACT_SIGMOID:
        for (uint i = 0; i < n; i++) {
            y[i] = 1.0f / (1.0f + expf(-y[i]));
        }
        SPINN_ACCOUNT(SPINN_OP_FEXP, n);
        SPINN_ACCOUNT(SPINN_OP_FDIV, n);
        return TRUE;
    case ACT_TANH:
        for (uint i = 0; i < n; i++) {
            y[i] = tanhf(y[i]);
        }
        SPINN_ACCOUNT(SPINN_OP_FEXP, 2 * n);
        return TRUE;
    case ACT_SOFTMAX: {
        // max-subtracted, as Keras does, so large logits do not overflow expf
        float top = y[0];
        for (uint i = 1; i < n; i++) {
            top = y[i] > top ? y[i] : top;
        }
        float sum = 0.0f;
        for (uint i = 0; i < n; i++) {
            y[i] = expf(y[i] - top);
            sum += y[i];
        }
        for (uint i = 0; i < n; i++) {
            y[i] = y[i] / sum;
        }
        SPINN_ACCOUNT(SPINN_OP_FEXP, n);
        SPINN_ACCOUNT(SPINN_OP_FADD, 3 * n);
        SPINN_ACCOUNT(SPINN_OP_FDIV, n);
        return TRUE;
    }
    default:
        return FALSE;
    }
}

// dz[i] = dz[i] * f'(z_i) in place, from the outputs y = f(z), as TensorFlow's
// gradients of the activations compute it (ReluGrad, SigmoidGrad: dy * y * (1 - y),
// TanhGrad: dy * (1 - y * y)).  Softmax is not here: its Jacobian couples the
// outputs, and the loss layer handles it (layer.c).
static inline void activation_backward(uint activation, const float *y, float *dz, uint n) {
    switch (activation) {
    case ACT_RELU:
        for (uint i = 0; i < n; i++) {
            dz[i] = y[i] > 0.0f ? dz[i] : 0.0f;
        }
        SPINN_ACCOUNT(SPINN_OP_FADD, n);
        break;
    case ACT_SIGMOID:
        for (uint i = 0; i < n; i++) {
            dz[i] = dz[i] * y[i] * (1.0f - y[i]);
        }
        SPINN_ACCOUNT(SPINN_OP_FMUL, 3 * n);
        break;
    case ACT_TANH:
        for (uint i = 0; i < n; i++) {
            dz[i] = dz[i] * (1.0f - y[i] * y[i]);
        }
        SPINN_ACCOUNT(SPINN_OP_FMUL, 3 * n);
        break;
    default:  // identity
        break;
    }
}

#endif  // SPINN_ACTIVATION_H
