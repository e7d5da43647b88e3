// Layer tile: forward pass, backward pass and SGD weight update of a block of
// one layer's output atoms.  The same protocol (inputs by key, samples in
// flight, errors back, minibatch updates) serves every kind of layer; what a
// tile computes on its atoms depends on its role:
//   dense: rows (neurons) of a Dense layer, below;
//   conv:  atoms of a Conv2D/Conv1D layer (conv_ops.h), with the filters of the
//          channels it covers; tiles that hold copies of a filter reduce its
//          gradient before each update (the gradient ring, below);
//   pool:  atoms of a MaxPooling2D/AveragePooling2D layer (pool_ops.h), no weights;
//   conv with params.pool set: a convolution with the pooling layer after it folded
//          on (conv_pool_ops.h): its atoms are the pooled values, and the
//          activation acts before the pooling, inside the tile's arithmetic.
//
// Forward: receives its layer's inputs by key (fwd packets, payload: float
// bits), computes y = act(W x + b) for its rows in float32 and sends y on its
// fwd keys.  The loss layer's tile instead computes the loss against the
// sample's label and, when asked, writes y and the loss to its WORK region for
// the host (predictions).
//
// Backward (training, optimizer batch_size > 0): the loss layer computes
// dL/dz of its rows; every other tile sums the dL/dy contributions the next
// layer's tiles send it (bwd packets), one buffer per sending tile, added in a
// fixed order so the result does not depend on packet timing, and multiplies
// by the activation's derivative.  A tile whose layer is not the first sends
// dL/dx = W^T dL/dz back (its bwd keys), then adds dL/dz x^T to its gradient
// sum.  After the last sample of a batch: V = momentum V - lr G; W += V (Keras
// SGD; Nesterov: W += momentum V - lr G), G = 0, and W is copied back to the
// WEIGHTS region in SDRAM by DMA, where the host can read it.
//
// Samples in flight: packets from one source arrive in the order it sent them
// (one fixed path through FIFO routers), so the n-th packet of an incoming
// entry belongs to sample n / per_sample (the packets it sends per sample).  Sample k uses slot k % S (S =
// params.in_flight) from its first input packet until its backward pass is
// done.  Forward and backward passes run in sample order; a sample of batch
// b + 1 is not computed before the update of batch b, so the result is the
// minibatch SGD Keras computes, with samples pipelined through the layers.  A
// source more than S samples ahead would overwrite a slot in use: the tile
// stops with EXIT_OVERRUN rather than compute garbage.
//
// Gradient ring (conv tiles whose filters have copies on other tiles): a ring
// carries filters params.ring_filter_lo onwards (params.ring_filters of them;
// the mapping makes one ring per layer, of every tile sharing a filter: see
// tiling.gradient_ring).  After the last sample of a batch the ring's first
// tile (params.ring_first), after params.ring_start_us, sends its kernel
// gradient for those filters (zeros for any it does not hold) on its gring
// keys to the next; each adds its own and passes the sum on as soon as its own
// batch is done; the last tile gets the ring's sum, keeps it and sends it to
// all the others (gsum keys).  Every
// copy then applies the same update to the same sum, in the same order, so the
// copies stay identical bit for bit.  The first tile sends a value every
// params.ring_gap_us and the others pass each on as it comes: the toolchain
// sends each ring packet over every link among the layer's chips, so the pace
// is set by the number of the layer's tiles (tiling.ring_gap_us).
//
// Deltas (error_routing "deltas", spinn_dnn.tiling.sends_deltas): a tile of a
// layer that has an outgoing dz entry sends dL/dz of its atoms (dz keys: the
// sending tile's atoms) instead of dL/dx, and computes no dL/dx.  Each tile of
// the layer below holds a copy of the weights that read its atoms (the WEIGHTS
// region's copy: copy_rows units of the next layer x its n_out atoms).  The deltas
// wait in a buffer per sending tile (the packet handler only stores them: at
// software-float speed the arithmetic would not keep up with their pace); the
// backward pass adds W[u][a] d to the error of each of its atoms a for each
// delta d of unit u, sender by sender in a fixed order, and d y[a] to the
// copy's gradient.  Each weight of the copy belongs to one unit, so its gradient gets
// the same products, in the same sample order, as the unit's own tile sums; at
// the end of each batch the copy takes the same SGD step (its momentum in
// WORK), so it stays equal to the original bit for bit without a packet more.
// Copies are written back to SDRAM with W, so the host's next machine starts
// from them.
//
// Kernel kind (params.copy_kind 1, spinn_dnn.tiling.sends_kernel_deltas): a convolution
// sends, per atom, dL/dz of its output; fused, of the convolution output(s) it pooled (max:
// the winner's; keys atom x window taps + tap, kept by conv_pool_backward).  Each tile below (a
// convolution's, or a pooling layer's when the sender is not fused) holds the whole kernel.  The packet handler queues each delta; a task (dz_drain) adds
// W[f][tap] d into the error of every atom inside that output's window (next_* params give
// its geometry).  The kernel's gradient sums over every output position, which no tile
// below sees: the copy takes the convolution's ring's final sums instead (PART_CSUM, the
// same packets as gsum) and steps once they are all in and its own backward passes of the
// batch are done (copy_commit), the same step from the same sums as the layer's own tiles.
// The errors are summed in 64-bit fixed point (DELTA_FIX_BITS fraction bits), whose addition,
// unlike float addition, does not depend on order: the deltas of different senders come in
// in an order that timing decides, and a float sum that changed in its last bit with it sent
// a ReLU input of 9e-8 to the other side of zero and training elsewhere (found with the
// emulator's timing fuzz, tests/test_timing_fuzz.py).  Each product W d is rounded to the
// fixed point, a lattice of 2^-40 (9.1e-13), finer than a float's last bit for errors above
// 1e-5; the sum wraps modulo 2^64, which is exact whenever the final sum is in range, and each
// product must stay below 2^22 / (the most products an error sums) so that it is.
//
// Memory: DTCM holds W and G (n_rows x row_length), the inputs, outputs and
// error sums of S samples, and dL/dz and dL/dx of one sample; SDRAM (the WORK
// region) holds the momentum V, used once per batch, the gradient ring's
// incoming sums, and on the loss layer the results.
//
// WORK region: float V[n_rows][row_length]; float V_copy[copy_rows][n_out]; on conv tiles in a gradient ring,
// float ring[ring_filters][row_length]; on the loss layer's tiles: uint32 n_done;
// uint32 n_rows; uint32 record (n_rows + 1); per sample: float y[n_rows],
// float loss.
#include "activation.h"
#include "conv_ops.h"
#include "conv_pool_ops.h"
#include "pool_ops.h"
#include "tile_common.h"

#define TAG_WEIGHTS 1
#define TAG_RESULT 2
#define TAG_WRITE_BACK 3
#define TAG_COPY_BACK 4
#define WEIGHTS_HEADER_WORDS (sizeof(weights_header_t) / sizeof(uint32_t))

// exit codes: why a tile refused to run or stopped (spinn_dnn/emulator/session.py, EXIT_CODES, gives their meaning)
#define EXIT_BAD_IMAGE 1
#define EXIT_NO_DTCM 2
#define EXIT_UNSUPPORTED 3
#define EXIT_OVERRUN 4
#define EXIT_FIXED_RANGE 5

#define DELTA_FIX_BITS 40
#define DELTA_FIX_SCALE 1099511627776.0f  // 2^DELTA_FIX_BITS

// Labels wait in a ring: one arrives with its sample's pixels, long before the
// sample reaches the loss layer, and up to (layers x in_flight) samples are
// between the two.
#define LABEL_RING 64
#define KEY_MEMO_MAX 1024  // slots of entry_of's memo, powers of two: the most it takes
#define KEY_MEMO_MIN 16    // and the fewest worth having
#define LOSS_EPSILON 1e-7f  // keras.config.epsilon(), the clip of the probabilities

// Where an incoming entry's packets have got to (the handler's counters for one entry).
typedef struct {
    uint sample;  // fwd, bwd, dz: the sample the next packet belongs to; label, softmax: packets so far
    uint pos;     // fwd, bwd, dz: the sample's slot << 16 | its packets so far (the handler keeps
                  // sample and slot by counting: no division per packet)
} entry_count_t;

#define POS_SLOT(pos) ((pos) >> 16)

typedef struct {
    tile_regions_t r;
    const key_entry_t *fwd;  // the first of n_fwd forward entries (tiling.fwd_runs); NULL on the loss layer
    uint n_fwd;
    const key_entry_t *bwd;  // the first error entry; NULL on the first layer (nothing to send errors to)
    uint n_bwd_out;          // error entries: one per receiving tile (dense), one for the layer (conv, pool)
    volatile optimizer_t *opt;  // in SDRAM: the host sets the learning rate between epochs
    uint role;
    uint n_out;         // atoms this tile computes (dense: = n_rows)
    uint n_rows, row_length, fan_in;  // weight rows (neurons or filters), their length, fan-in (no bias)
    uint n_x;           // input atoms kept per sample: [in_lo, in_hi)
    uint in_lo, in_flight, atom_lo, atom_hi;
    uint training;
    uint expected;      // fwd packets per sample
    uint expected_bwd;  // bwd packets per sample
    uint n_bwd_in;      // incoming bwd entries
    entry_count_t *count;  // per incoming entry: where its packets have got to
    uint16_t *by_key;   // incoming entries sorted by first key, for a binary search per packet
    uint16_t *err_index;  // per incoming entry: bwd, dz: its index among the error entries
                          // (with count and by_key, the 3 words an entry the tiler budgets)
    uint16_t *key_memo; // the entry last found for keys of each slot (entry_of); NULL: none
    uint memo_mask;     // the memo's slots - 1 (a power of two)
    uint key_shift;     // log2 of the tile's smallest incoming key block: the memo's slot is the block
    uint *received;     // per slot: fwd packets of its sample so far
    uint *received_bwd; // per slot: bwd packets so far
    uint fwd_next;      // next sample to compute forward (in order)
    uint bwd_next;      // next sample to compute backward
    uint fwd_slot, bwd_slot;  // their slots (sample % in_flight), kept as they advance: pump runs
                              // often, and a division is a library call on the ARM968
    uint bwd_done;      // samples whose backward pass is done (their slot is free)
    uint batches_done;  // weight updates applied
    uint ready;
    uint n_results;     // results written to WORK (loss layer)
    uint result_slots;  // samples the WORK region holds results for (a ring)
    uint has_label, labels_in;  // a label entry comes in; labels received so far
    uint label[LABEL_RING];
    float *w;   // n_rows x row_length, bias last in each row
    float *g;   // gradient sums, same shape
    float *v;   // momentum, same shape, in SDRAM
    float *x;   // in_flight x n_x inputs
    float *y;   // in_flight x (n_out + 1) outputs and the loss (a DMA may still be reading one)
    float *err; // n_bwd_in x in_flight x n_out: dL/dy from each sending tile (loss layer: dL/dz)
    float *dz;  // n_out: dL/dz of the sample being back-propagated
    float *dx;  // n_x: dL/dx to send back
    uint *row_of;   // conv: the row of each of the layer's channels (out_c entries)
    uint *argmax;   // max pooling: in_flight x n_out, the input (fused: the conv output) each output took
    uint fused;     // a conv tile with a pooling layer folded on (conv_pool_ops.h)
    float *act;     // fused average pooling: in_flight x n_out x window, each window output's activation
    uint32_t *covered;  // conv, pool (training): a bit per input in [in_lo, in_hi) a receptive field reads
    // gradient ring (conv): see above
    const key_entry_t *gring, *gsum;  // outgoing: to the next tile / (last tile) to all others
    uint reduce;        // this tile is in a gradient ring
    uint is_last;       // the last tile of the ring: it completes the sums
    uint ring_lo;       // the first filter the ring carries
    uint ring_values;   // values per ring pass: the ring's filters x row_length
    uint own_ready;     // this tile's batch gradient is complete
    uint ring_in, ring_done, sums_in;  // ring values received, passed on; final sums received
    uint ring_busy;
    uint ring_queued;   // a ring_pump callback is queued (one at a time: the task queue holds 16)
    float *ring;        // ring_values incoming partial sums, in SDRAM
    // deltas: see above
    const key_entry_t *dz_out;  // this tile sends dL/dz (the layer below holds copies of W)
    uint dz_in;         // the errors come as deltas from the next layer (PART_DZ entries)
    uint *dz_at;        // per incoming entry: where its deltas start in dzbuf
    float *dzbuf;       // per dz entry: in_flight x count deltas
    uint copy_units;    // rows of the copy: units of the next layer
    uint copy_length;   // floats per row: n_out (dense kind), the next layer's kernel row (kernel kind)
    uint copy_n;        // copy_units x copy_length
    float *wc, *gc;     // the copy and its gradient sums (kernel kind: the next layer's final sums), in DTCM
    float *vc;          // its momentum, in SDRAM
    // kernel kind (params.copy_kind 1): a convolution's deltas, queued for dz_drain
    uint kernel_copy;
    uint32_t *fifo_key; // per queued delta: slot << 24 | entry << 16 | key offset
    float *fifo_val;
    uint fifo_head, fifo_tail, fifo_size, drain_queued;
    uint fifo_rd, fifo_wr;  // fifo_head and fifo_tail modulo fifo_size, kept as they advance
    uint copy_limit;        // the first sample the copy's next update must come before (kernel kind)
    uint copy_limit_for;    // the copy_batches it was worked out for (UINT32_MAX: not yet)
    uint64_t *dacc;     // in_flight x n_out: each sample's errors summed from its deltas so far (fixed point)
    float fix_limit;    // the largest product W d the fixed-point sum takes (see Kernel kind)
    uint16_t *ry, *rx, *rc;  // each atom's row, column and channel in the next layer's input grid
    uint csum_in;       // final sums of the next layer's ring received this batch
    // softmax across tiles (the loss layer split over smx_tiles tiles): see Softmax below
    const key_entry_t *smx_out;  // this tile's (max, sum) of each sample, to every tile of the layer
    uint smx_tiles;     // tiles sharing the softmax (0: it is whole on this tile)
    float *smx;         // SMX_RING(in_flight) samples x smx_tiles x (max, sum of exp(z - max))
    uint *smx_in;       // per ring slot: values in so far (complete at 2 x smx_tiles)
    uint smx_done;      // samples normalised, in order
    uint bwd_batches;   // batches whose backward passes are all done
    uint copy_batches;  // updates of the copy
    // a convolution sending deltas (kernel kind): keys per atom, the values and which are sent
    uint dtaps;
    float *dvals;
    uint32_t *dsent;
} layer_state_t;

SPINN_STATE_DECLARE(layer_state_t);
#define S SPINN_STATE(layer_state_t)

static void pump(uint unused0, uint unused1);

static uint batch_of(uint sample) {
    SPINN_ACCOUNT(SPINN_OP_UDIV, 3);
    return tile_batch_of(S->opt->epoch_samples, S->opt->batch_size, sample);
}

static float *results(void) {
    uint32_t *work = S->r.work;
    return (float *) &work[S->n_rows * S->row_length + S->copy_n + (S->reduce ? S->ring_values : 0)];
}

static void write_result(uint slot, uint sample) {
    uint32_t *header = (uint32_t *) results();
    float *out = (float *) &header[3];
    float *y = &S->y[slot * (S->n_out + 1)];
    spin1_dma_transfer(TAG_RESULT, &out[(sample % S->result_slots) * (S->n_out + 1)], y, DMA_WRITE,
                       (S->n_out + 1) * sizeof(float));
}

// The loss of one sample on the loss layer, and (training) dL/dz of its rows into dz.
static void loss_and_delta(float *y, float *dz, uint sample) {
    const params_t *p = S->r.params;
    uint label = S->label[sample % LABEL_RING];
    uint n_out = p->n_layer_atoms;
    uint batch = S->training ? tile_batch_size_of(S->opt->epoch_samples, S->opt->batch_size, sample) : 0;
    float scale = batch ? 1.0f / (float) batch : 0.0f;
    if (S->opt->loss == LOSS_SCE) {
        // softmax output, one tile: Keras differentiates its logits, dL/dz = (p - onehot) / batch
        uint at = label - S->atom_lo;
        float prob = at < S->n_rows ? y[at] : 0.0f;
        prob = prob < LOSS_EPSILON ? LOSS_EPSILON : (prob > 1.0f - LOSS_EPSILON ? 1.0f - LOSS_EPSILON : prob);
        y[S->n_rows] = S->smx_tiles && at >= S->n_rows ? 0.0f : -logf(prob);  // split: the label's tile
        SPINN_ACCOUNT(SPINN_OP_FEXP, 1);
        for (uint r = 0; r < S->n_rows; r++) {
            dz[r] = (y[r] - (r == at ? 1.0f : 0.0f)) * scale;
        }
        SPINN_ACCOUNT(SPINN_OP_FMAC, S->n_rows);
        return;
    }
    // mean squared error against the one-hot class vector: dL/dy = 2 (y - t) / n_out / batch
    float sum = 0.0f;
    for (uint r = 0; r < S->n_rows; r++) {
        float d = y[r] - (S->atom_lo + r == label ? 1.0f : 0.0f);
        sum += d * d;
        dz[r] = (2.0f * d / (float) n_out) * scale;
    }
    y[S->n_rows] = sum / (float) n_out;
    SPINN_ACCOUNT(SPINN_OP_FMAC, 4 * S->n_rows);
    if (p->activation == ACT_SOFTMAX) {  // through the softmax's Jacobian: dz_i = y_i (g_i - sum_j g_j y_j)
        float dot = 0.0f;
        for (uint r = 0; r < S->n_rows; r++) {
            dot += dz[r] * y[r];
        }
        for (uint r = 0; r < S->n_rows; r++) {
            dz[r] = y[r] * (dz[r] - dot);
        }
        SPINN_ACCOUNT(SPINN_OP_FMAC, 2 * S->n_rows);
    } else {
        activation_backward(p->activation, y, dz, S->n_rows);
    }
}

// This slot's max-pooling winners and (fused average pooling) window activations, or NULL.
static uint *slot_argmax(uint slot) {
    return S->argmax ? &S->argmax[slot * S->n_out] : NULL;
}

static float *slot_act(uint slot) {
    return S->act ? &S->act[slot * S->n_out * pool_window_size(S->r.params)] : NULL;
}

// Softmax across tiles.  A loss layer whose softmax is split over several tiles
// cannot normalise alone: each tile sends, for each sample, the largest of its
// logits m_t and s_t = sum exp(z - m_t) over them (two packets, to every tile of
// the layer, itself included).  Once all tiles' pairs are in, each takes
// M = max m_t and S = sum s_t exp(m_t - M), and p_i = exp(z_i - M) / S: the
// same probabilities as one tile's softmax, without overflow.  The loss and
// dL/dz = (p - onehot) / batch are then local (cross-entropy only: mean squared
// error through a softmax would need another exchange).  A tile can be up to
// 2 x in_flight samples ahead of another (each needs the others' pairs only
// to finish a sample, not to send its own), hence the ring's size.  The pairs
// are paced as activations are (tile_send_fwd): every tile sends to every
// tile, and at once they overran a receiver's queue from about 12 tiles up.
#define SMX_RING(in_flight) (2 * (in_flight))

static void smx_normalise(uint sample) {
    const float *pairs = &S->smx[(sample % SMX_RING(S->in_flight)) * S->smx_tiles * 2];
    float top = pairs[0];
    for (uint t = 1; t < S->smx_tiles; t++) {
        top = pairs[2 * t] > top ? pairs[2 * t] : top;
    }
    float total = 0.0f;
    for (uint t = 0; t < S->smx_tiles; t++) {
        total += pairs[2 * t + 1] * expf(pairs[2 * t] - top);
    }
    uint slot = sample % S->in_flight;
    float *y = &S->y[slot * (S->n_out + 1)];
    for (uint r = 0; r < S->n_out; r++) {
        y[r] = expf(y[r] - top) / total;
    }
    SPINN_ACCOUNT(SPINN_OP_FEXP, S->n_out + S->smx_tiles);
    SPINN_ACCOUNT(SPINN_OP_FDIV, S->n_out);
    SPINN_ACCOUNT(SPINN_OP_FMAC, 2 * S->smx_tiles);
    y[S->n_out] = 0.0f;
    if (S->has_label) {
        loss_and_delta(y, &S->err[slot * S->n_out], sample);
    }
    write_result(slot, sample);
    if (S->training) {
        S->received_bwd[slot]++;  // its backward pass may start (expected_bwd is 1)
    } else {
        S->bwd_done++;  // the slot is free again
    }
}

// Normalises, in sample order, every sample whose pairs are all in.
static void smx_finish(uint unused0, uint unused1) {
    (void) unused0;
    (void) unused1;
    uint ring = SMX_RING(S->in_flight);
    while (S->smx_done < S->fwd_next && S->smx_in[S->smx_done % ring] == 2 * S->smx_tiles) {
        S->smx_in[S->smx_done % ring] = 0;
        smx_normalise(S->smx_done++);
    }
    spin1_schedule_callback(pump, 0, 0, 1);
}

// This tile's share of a split softmax: the largest logit and the sum of exp(z - it), sent.
static void smx_send(const float *z) {
    float top = z[0];
    for (uint r = 1; r < S->n_out; r++) {
        top = z[r] > top ? z[r] : top;
    }
    float sum = 0.0f;
    for (uint r = 0; r < S->n_out; r++) {
        sum += expf(z[r] - top);
    }
    SPINN_ACCOUNT(SPINN_OP_FEXP, S->n_out);
    SPINN_ACCOUNT(SPINN_OP_FADD, 2 * S->n_out);
    float pair[2] = {top, sum};
    tile_send_fwd(S->smx_out, 1, pair, S->smx_out->offset, S->r.params->tile_index, S->smx_tiles);
}

static void forward(uint slot, uint sample) {
    const params_t *p = S->r.params;
    const float *x = &S->x[slot * S->n_x];
    float *y = &S->y[slot * (S->n_out + 1)];
    if (S->fused) {  // the activation acts inside, before the pooling
        conv_pool_forward(p, S->w, S->row_length, S->row_of, x, y, slot_argmax(slot), slot_act(slot), S->n_out);
    } else if (S->role == ROLE_CONV) {
        conv_forward(p, S->w, S->row_length, S->row_of, x, y, S->n_out);
    } else if (S->role == ROLE_POOL) {
        pool_forward(p, x, y, slot_argmax(slot), S->n_out);
    } else {
        for (uint r = 0; r < S->n_rows; r++) {
            const float *row = &S->w[r * S->row_length];
            float acc = 0.0f;
            for (uint j = 0; j < S->fan_in; j++) {
                acc += row[j] * x[j];
            }
            y[r] = acc + row[S->fan_in];
        }
        SPINN_ACCOUNT(SPINN_OP_FMAC, S->n_rows * S->fan_in);
        SPINN_ACCOUNT(SPINN_OP_FADD, S->n_rows);
    }
    if (S->smx_tiles) {  // the layer's softmax is normalised once every tile's share is in
        smx_send(y);
        spin1_schedule_callback(pump, 0, 0, 1);
        return;
    }
    if (!S->fused) {
        apply_activation(p->activation, y, S->n_out);
    }
    if (p->is_output) {
        y[S->n_out] = 0.0f;
        if (S->has_label) {
            loss_and_delta(y, &S->err[slot * S->n_out], sample);
        }
        write_result(slot, sample);
    } else if (S->fwd) {
        tile_send_fwd(S->fwd, S->n_fwd, y, S->atom_lo, p->tile_index, p->n_tiles);
    }
    if (!S->training) {
        S->bwd_done++;  // the slot is free again
    }
    spin1_schedule_callback(pump, 0, 0, 1);
}

// One SGD step (Keras's) of n weights w from their gradient sums g, momentum v in SDRAM; g is zeroed.
static void sgd_step(float *w, float *g, float *v, uint n) {
    float lr = S->opt->learning_rate, momentum = S->opt->momentum;
    for (uint i = 0; i < n; i++) {
        float gi = g[i];
        if (momentum != 0.0f) {
            float vi = v[i] * momentum - gi * lr;
            v[i] = vi;
            w[i] += S->opt->nesterov ? vi * momentum - gi * lr : vi;
        } else {
            w[i] -= gi * lr;
        }
        g[i] = 0.0f;
    }
    SPINN_ACCOUNT(SPINN_OP_FMAC, (S->opt->nesterov ? 5 : 3) * n);
    SPINN_ACCOUNT(SPINN_OP_SDRAM_WORD, 2 * n);  // V read and written in SDRAM
}

static uint32_t *weight_rows_in_sdram(void) {
    data_specification_metadata_t *ds = data_specification_get_data_address();
    const weights_header_t *wh = data_specification_get_region(REGION_WEIGHTS, ds);
    return (uint32_t *) wh + WEIGHTS_HEADER_WORDS + S->n_rows;
}

// The copy's step, the same as its original's (see Deltas above), and its write-back.
static void copy_update(void) {
    sgd_step(S->wc, S->gc, S->vc, S->copy_n);
    spin1_dma_transfer(TAG_COPY_BACK, weight_rows_in_sdram() + S->n_rows * S->row_length, S->wc, DMA_WRITE,
                       S->copy_n * sizeof(float));
}

// Kernel kind: the copy steps once the next layer's final sums are all in and this tile's backward
// passes of the batch are done (they used the copy as it was).
static void copy_commit(uint unused0, uint unused1) {
    (void) unused0;
    (void) unused1;
    if (S->csum_in < S->copy_n || S->bwd_batches <= S->copy_batches) {
        return;
    }
    S->csum_in = 0;
    copy_update();
    S->copy_batches++;
    spin1_schedule_callback(pump, 0, 0, 1);
}

// Kernel kind: adds the queued deltas into their samples' errors.  A delta is dL/dz of one output
// of the next layer's convolution (its atom, and the tap of that atom's pooling window); each of
// this tile's atoms inside that output's window gets the weight that reads it times the delta.
static void dz_drain(uint unused0, uint unused1) {
    (void) unused0;
    (void) unused1;
    const params_t *p = S->r.params;
    uint kh = p->next_kernel_h, kw = p->next_kernel_w, cin = p->next_in_c;
    S->drain_queued = 0;
    while (S->fifo_head != S->fifo_tail) {
        uint at = S->fifo_rd;
        S->fifo_head++;
        S->fifo_rd = at + 1 == S->fifo_size ? 0 : at + 1;
        uint word = S->fifo_key[at];
        float d = S->fifo_val[at];
        uint slot = word >> 24;
        uint g = S->r.in[(word >> 16) & 0xFF].offset + (word & 0xFFFF);
        uint atom = g / p->next_taps, tap = g % p->next_taps;
        uint position = atom / p->next_out_c;
        int oy = (int) ((position / p->next_pool_out_w) * p->next_pool_stride_h) - (int) p->next_pool_pad_top +
                 (int) (tap / p->next_pool_kernel_w);
        int ox = (int) ((position % p->next_pool_out_w) * p->next_pool_stride_w) - (int) p->next_pool_pad_left +
                 (int) (tap % p->next_pool_kernel_w);
        int y0 = oy * (int) p->next_stride_h - (int) p->next_pad_top;
        int x0 = ox * (int) p->next_stride_w - (int) p->next_pad_left;
        const float *w = &S->wc[(atom % p->next_out_c) * S->copy_length];
        uint64_t *acc = &S->dacc[slot * S->n_out];
        uint hits = 0;
        for (uint a = 0; a < S->n_out; a++) {
            int ky = (int) S->ry[a] - y0, kx = (int) S->rx[a] - x0;
            if (ky >= 0 && ky < (int) kh && kx >= 0 && kx < (int) kw) {
                float t = w[((uint) ky * kw + (uint) kx) * cin + S->rc[a]] * d;
                if (!(t < S->fix_limit && t > -S->fix_limit)) {  // NaN included
                    spin1_exit(EXIT_FIXED_RANGE);
                    return;
                }
                acc[a] += (uint64_t) (int64_t) (t * DELTA_FIX_SCALE);  // the scale is a power of two: exact
                hits++;
            }
        }
        SPINN_ACCOUNT(SPINN_OP_FMAC, hits);
        // and four divisions: the delta's atom, position and tap
        SPINN_ACCOUNT2(SPINN_OP_WORD, 42 + 12 * S->n_out, SPINN_OP_UDIV, 4);
        if (++S->received_bwd[slot] == S->expected_bwd) {
            spin1_schedule_callback(pump, 0, 0, 1);
        }
    }
}

static void update(void) {
    uint n = S->n_rows * S->row_length;
    sgd_step(S->w, S->g, S->v, n);
    S->batches_done++;
    S->own_ready = 0;
    S->ring_in = S->ring_done = S->sums_in = 0;
    spin1_dma_transfer(TAG_WRITE_BACK, weight_rows_in_sdram(), S->w, DMA_WRITE, n * sizeof(float));
}

// The row holding ring value v's filter (ring_lo + v / row_length), or n_rows if this tile
// holds no copy of it.
static uint ring_row(uint v) {  // (its caller's v % row_length comes with the quotient)
    SPINN_ACCOUNT(SPINN_OP_UDIV, 1);
    return S->row_of[S->ring_lo + v / S->row_length];
}

// This tile's share of ring value v (weight v % row_length of its filter): its own gradient
// sum, or zero for a filter it does not hold.
static float own_gradient(uint v) {
    uint row = ring_row(v);
    return row < S->n_rows ? S->g[row * S->row_length + v % S->row_length] : 0.0f;
}

// Passes on the ring values that are in, once this tile's own batch gradient is complete
// (a backlog keeps the senders' pace); the last tile keeps each complete sum and sends it to
// every other tile, and updates when it has them all.
static void ring_pump(uint unused0, uint unused1) {
    (void) unused0;
    (void) unused1;
    S->ring_queued = 0;
    if (!S->own_ready || S->ring_busy) {
        return;
    }
    S->ring_busy = 1;
    const key_entry_t *out = S->is_last ? S->gsum : S->gring;
    while (S->ring_done < S->ring_in) {
        uint v = S->ring_done++;
        float total = S->ring[v] + own_gradient(v);
        SPINN_ACCOUNT(SPINN_OP_SDRAM_WORD, 1);
        SPINN_ACCOUNT(SPINN_OP_FADD, 1);
        if (S->is_last) {
            uint row = ring_row(v);
            if (row < S->n_rows) {
                S->g[row * S->row_length + v % S->row_length] = total;
            }
        }
        if (out) {
            spin1_send_mc_packet(out->key + v, float_bits(total), WITH_PAYLOAD);
            if (S->ring_done < S->ring_in) {
                spin1_delay_us(S->r.params->ring_gap_us);
            }
        }
    }
    S->ring_busy = 0;
    if (S->is_last && S->ring_done == S->ring_values) {
        update();
        spin1_schedule_callback(pump, 0, 0, 1);
    }
}

// The update once the final sums are all in (tiles other than the last).
static void ring_update(uint unused0, uint unused1) {
    (void) unused0;
    (void) unused1;
    update();
    pump(0, 0);
}

// Queues ring_pump unless one is queued already: a ring value comes in every ring_gap_us, and
// one callback per value would fill the task queue during a long pass and lose the pass.
static void schedule_ring_pump(void) {
    if (S->own_ready && !S->ring_queued) {
        S->ring_queued = 1;
        spin1_schedule_callback(ring_pump, 0, 0, 1);
    }
}

// The end of a batch on a tile in a gradient ring: the ring's first tile starts it, the others pass on
// what has come in meanwhile.
static void ring_start(void) {
    const params_t *p = S->r.params;
    S->own_ready = 1;
    if (p->ring_first) {
        spin1_delay_us(p->ring_start_us);  // 0 for the one ring per layer the mapping makes now
        for (uint v = 0; v < S->ring_values; v++) {
            if (v) {
                spin1_delay_us(S->r.params->ring_gap_us);
            }
            spin1_send_mc_packet(S->gring->key + v, float_bits(own_gradient(v)), WITH_PAYLOAD);
        }
    } else {
        schedule_ring_pump();
    }
}

// dL/dy of the tile's atoms into dz from the deltas of one sample (see Deltas above), and the
// copy's gradient sums.
static void errors_from_deltas(uint slot, const float *y) {
    zero_floats(S->dz, S->n_out);
    uint used = 0, stored = 0;
    for (uint e = 0; e < S->r.n_in; e++) {
        const key_entry_t *in = &S->r.in[e];
        if (in->partition != PART_DZ) {
            continue;
        }
        const float *d = &S->dzbuf[S->dz_at[e] + slot * in->count];
        stored += in->count;
        for (uint i = 0; i < in->count; i++) {
            uint unit = in->offset + i;
            if (unit >= S->copy_units) {
                continue;
            }
            float di = d[i];
            const float *w = &S->wc[unit * S->n_out];
            float *g = &S->gc[unit * S->n_out];
            for (uint a = 0; a < S->n_out; a++) {
                S->dz[a] += w[a] * di;
                g[a] += di * y[a];
            }
            used++;
        }
    }
    SPINN_ACCOUNT(SPINN_OP_FMAC, 2 * used * S->n_out);
    SPINN_ACCOUNT(SPINN_OP_WORD, 4 * used * S->n_out + 2 * stored + S->n_out);
}

static void backward(uint slot, uint sample) {
    const params_t *p = S->r.params;
    const float *x = &S->x[slot * S->n_x];
    float *y = &S->y[slot * (S->n_out + 1)];
    if (p->is_output) {  // the loss layer's dL/dz, computed with the loss
        for (uint r = 0; r < S->n_out; r++) {
            S->dz[r] = S->err[slot * S->n_out + r];
        }
    } else if (S->kernel_copy) {  // summed by dz_drain as the deltas came
        uint64_t *acc = &S->dacc[slot * S->n_out];
        for (uint r = 0; r < S->n_out; r++) {
            S->dz[r] = (float) (int64_t) acc[r] * (1.0f / DELTA_FIX_SCALE);
            acc[r] = 0;
        }
        SPINN_ACCOUNT(SPINN_OP_WORD, 3 * S->n_out);
    } else if (S->dz_in) {
        errors_from_deltas(slot, y);
    } else {
        for (uint r = 0; r < S->n_out; r++) {
            float sum = 0.0f;
            for (uint e = 0; e < S->n_bwd_in; e++) {
                sum += S->err[(e * S->in_flight + slot) * S->n_out + r];
            }
            S->dz[r] = sum;
        }
        SPINN_ACCOUNT(SPINN_OP_FADD, S->n_out * S->n_bwd_in);
    }
    if (!p->is_output) {
        if (!S->fused) {  // fused: dz is dL/dy of the pooled values; f' acts inside, per window output
            activation_backward(p->activation, y, S->dz, S->n_out);
        }
    }
    if (S->fused) {
        pool_deltas_t deltas = {S->dvals, S->dsent};  // kernel kind: the deltas it sends, kept on the way
        conv_pool_backward(p, S->w, S->g, S->row_length, S->row_of, x, y, S->dz, slot_argmax(slot), slot_act(slot),
                           S->bwd ? S->dx : NULL, S->n_x, S->n_out, S->dz_out ? &deltas : NULL);
    } else if (S->role == ROLE_CONV) {
        conv_backward(p, S->w, S->g, S->row_length, S->row_of, x, S->dz, S->bwd ? S->dx : NULL, S->n_x,
                      S->n_out);
    } else if (S->role == ROLE_POOL) {
        if (S->bwd) {
            pool_backward(p, S->dz, slot_argmax(slot), S->dx, S->n_x, S->n_out);
        }
    } else {
        if (S->bwd) {  // dL/dx = W^T dL/dz, with the weights the forward pass used
            for (uint j = 0; j < S->fan_in; j++) {
                float acc = 0.0f;
                for (uint r = 0; r < S->n_rows; r++) {
                    acc += S->w[r * S->row_length + j] * S->dz[r];
                }
                S->dx[j] = acc;
            }
            SPINN_ACCOUNT(SPINN_OP_FMAC, S->n_rows * S->fan_in);
        }
        for (uint r = 0; r < S->n_rows; r++) {
            float d = S->dz[r];
            float *g = &S->g[r * S->row_length];
            for (uint j = 0; j < S->fan_in; j++) {
                g[j] += d * x[j];
            }
            if (p->use_bias) {  // a layer without a bias keeps its zero column at zero
                g[S->fan_in] += d;
            }
        }
        SPINN_ACCOUNT(SPINN_OP_FMAC, S->n_rows * S->row_length);
    }
    if (S->bwd) {
        tile_send_errors(S->bwd, S->n_bwd_out, S->dx, S->covered, S->in_lo, p->tile_index, p->n_tiles,
                         p->unpaced_errors);
    } else if (S->dz_out && S->fused) {  // the deltas conv_pool_backward kept (kernel kind)
        tile_send_errors(S->dz_out, 1, S->dvals, S->dsent, S->atom_lo * S->dtaps, p->tile_index, p->n_tiles, 0);
    } else if (S->dz_out) {  // paced as errors to one receiving entry
        tile_send_errors(S->dz_out, 1, S->dz, NULL, S->atom_lo, p->tile_index, p->n_tiles, 0);
    }
    S->bwd_done++;
    if (tile_ends_batch(S->opt->epoch_samples, S->opt->batch_size, sample)) {
        if (S->kernel_copy) {  // the next layer's final sums may be in already
            S->bwd_batches++;
            copy_commit(0, 0);
        } else if (S->dz_in) {  // every delta of the batch has come in: before this pass could start
            copy_update();
        }
        if (S->reduce) {
            ring_start();  // the update follows the ring (ring_pump, or the sums coming in)
            return;
        }
        if (S->n_rows) {
            update();
        } else {
            S->batches_done++;  // no weights (pooling): the batch is done
        }
    }
    spin1_schedule_callback(pump, 0, 0, 1);
}

// Starts, in sample order, every pass whose inputs are in: backward passes first
// (they free slots and lead to the update), then forward passes of samples whose
// batch's turn has come.
static void pump(uint unused0, uint unused1) {
    (void) unused0;
    (void) unused1;
    if (!S->ready) {
        return;  // the weights' DMA is still going: on_dma pumps when it is done
    }
    if (S->training && S->bwd_next < S->fwd_next) {
        uint slot = S->bwd_slot;
        if (S->received_bwd[slot] == S->expected_bwd) {
            S->received_bwd[slot] = 0;
            S->bwd_slot = slot + 1 == S->in_flight ? 0 : slot + 1;
            spin1_schedule_callback(backward, slot, S->bwd_next++, 1);
            return;  // backward pumps again when it is done
        }
    }
    uint slot = S->fwd_slot;
    if (S->received[slot] != S->expected || S->fwd_next >= S->bwd_done + S->in_flight) {
        return;  // its inputs are not all in (or the slot still holds an earlier sample)
    }
    if (S->has_label && S->labels_in <= S->fwd_next) {
        return;  // its label has not come yet
    }
    if (S->training && batch_of(S->fwd_next) > S->batches_done) {
        return;  // the previous batch's update comes first
    }
    S->received[slot] = 0;
    S->fwd_slot = slot + 1 == S->in_flight ? 0 : slot + 1;
    spin1_schedule_callback(forward, slot, S->fwd_next++, 1);
}

// The incoming entry a key belongs to, or -1: entries are disjoint aligned key blocks, so the
// one with the largest first key not above `key` is the only candidate.  First the memo: the
// entry last found for a key in the same slot (key >> key_shift, the tile's smallest block,
// modulo the memo's size); a tile's sources send runs of consecutive blocks, which fall in
// different slots while the memo is larger than the run, so most packets find their entry there
// in one check (LeNet-5 fused: 82% with 64 slots, 93% with 256, 99% with 1,024).  Otherwise a
// binary search keeps the cost at log2(entries) steps (a linear scan over the 75 source tiles of
// a layer took longer than the packets' spacing), and the memo keeps its answer.
static int entry_of(uint key) {
    uint memo = (key >> S->key_shift) & S->memo_mask;
    if (S->key_memo) {
        uint m = S->key_memo[memo];
        // loads of the shift, mask and memo, the slot, the memo's entry, its bounds check, its
        // address, mask and first key, the compare and branches: about 16 instructions
        SPINN_ACCOUNT(SPINN_OP_WORD, 16);
        if (m < S->r.n_in && (key & S->r.in[m].mask) == S->r.in[m].key) {
            return (int) m;
        }
    }
    uint lo = 0, hi = S->r.n_in, steps = 1;
    while (lo < hi) {
        uint mid = (lo + hi) / 2;
        if (S->r.in[S->by_key[mid]].key <= key) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
        steps++;
    }
    SPINN_ACCOUNT(SPINN_OP_WORD, 8 * steps);
    if (lo == 0) {
        return -1;
    }
    uint e = S->by_key[lo - 1];
    if ((key & S->r.in[e].mask) != S->r.in[e].key) {
        return -1;
    }
    if (S->key_memo) {
        S->key_memo[memo] = (uint16_t) e;
        SPINN_ACCOUNT(SPINN_OP_WORD, 2);
    }
    return (int) e;
}

// Counts a packet of a fwd, bwd or dz entry in: the n-th packet of an entry belongs to sample
// n / per_sample, in slot sample % in_flight, kept here by counting.
static inline void next_packet(uint e, uint per_sample) {
    uint pos = S->count[e].pos;
    if ((pos & 0xFFFFu) + 1 < per_sample) {
        S->count[e].pos = pos + 1;
        return;
    }
    uint slot = POS_SLOT(pos) + 1;
    S->count[e].pos = (slot == S->in_flight ? 0 : slot) << 16;
    S->count[e].sample++;
}

static void on_packet(uint key, uint payload) {
    int found = entry_of(key);
    if (found >= 0) {
        uint e = (uint) found;
        const key_entry_t *in = &S->r.in[e];
        if (in->partition == PART_FWD) {
            uint sample = S->count[e].sample, slot = POS_SLOT(S->count[e].pos);
            if (sample >= S->bwd_done + S->in_flight) {
                spin1_exit(EXIT_OVERRUN);
                return;
            }
            next_packet(e, in->per_sample);
            uint at = in->offset + (key - in->key) - S->in_lo;  // wraps round below in_lo
            if (at < S->n_x) {  // a source tile may hold atoms no receptive field here covers
                S->x[slot * S->n_x + at] = bits_float(payload);
            }
            SPINN_ACCOUNT(SPINN_OP_WORD, 12);
            if (++S->received[slot] == S->expected && sample == S->fwd_next) {
                spin1_schedule_callback(pump, 0, 0, 1);
            }
        } else if (in->partition == PART_BWD || in->partition == PART_DZ) {
            uint sample = S->count[e].sample, slot = POS_SLOT(S->count[e].pos);
            if (sample >= S->bwd_done + S->in_flight || sample >= S->fwd_next) {
                spin1_exit(EXIT_OVERRUN);  // an error or delta for a sample this tile has not sent
                return;
            }
            next_packet(e, in->per_sample);
            if (S->kernel_copy) {  // queued for dz_drain, which counts it in
                uint k = key - in->key;
                if (S->copy_limit_for != S->copy_batches) {  // once per batch
                    S->copy_limit = tile_batch_start(S->opt->epoch_samples, S->opt->batch_size,
                                                     S->copy_batches + 1);
                    S->copy_limit_for = S->copy_batches;
                    SPINN_ACCOUNT2(SPINN_OP_SDRAM_WORD, 2, SPINN_OP_UDIV, 2);
                }
                if (k >= in->count || S->fifo_tail - S->fifo_head >= S->fifo_size || sample >= S->copy_limit) {
                    spin1_exit(EXIT_OVERRUN);  // the queue is full, or the copy is a batch behind
                    return;
                }
                uint at = S->fifo_wr;
                S->fifo_tail++;
                S->fifo_wr = at + 1 == S->fifo_size ? 0 : at + 1;
                S->fifo_key[at] = (slot << 24) | ((uint) e << 16) | k;
                S->fifo_val[at] = bits_float(payload);
                SPINN_ACCOUNT(SPINN_OP_WORD, 22);
                if (!S->drain_queued) {
                    S->drain_queued = 1;
                    spin1_schedule_callback(dz_drain, 0, 0, 1);
                }
                return;
            }
            if (in->partition == PART_DZ) {  // kept for the backward pass (Deltas, above)
                uint i = key - in->key;
                if (i < in->count) {
                    S->dzbuf[S->dz_at[e] + slot * in->count + i] = bits_float(payload);
                }
            } else {
                uint atom = in->offset + (key - in->key);
                if (atom >= S->atom_lo && atom < S->atom_hi) {
                    S->err[(S->err_index[e] * S->in_flight + slot) * S->n_out + atom - S->atom_lo] =
                        bits_float(payload);
                }
            }
            SPINN_ACCOUNT(SPINN_OP_WORD, 13);
            if (++S->received_bwd[slot] == S->expected_bwd && sample == S->bwd_next) {
                spin1_schedule_callback(pump, 0, 0, 1);
            }
        } else if (in->partition == PART_LABEL) {
            uint sample = S->count[e].sample++;
            if (sample >= S->bwd_done + LABEL_RING) {
                spin1_exit(EXIT_OVERRUN);
                return;
            }
            S->label[sample % LABEL_RING] = payload;
            S->labels_in++;
            if (sample == S->fwd_next) {
                spin1_schedule_callback(pump, 0, 0, 1);
            }
        } else if (in->partition == PART_SOFTMAX) {
            uint k = key - in->key, ring = SMX_RING(S->in_flight);
            uint sample = S->count[e].sample++ / 2;
            if (!S->smx_tiles || k > 1 || in->offset >= S->smx_tiles || sample >= S->smx_done + ring) {
                spin1_exit(EXIT_OVERRUN);  // (max, sum) pairs, one per tile and sample
                return;
            }
            S->smx[((sample % ring) * S->smx_tiles + in->offset) * 2 + k] = bits_float(payload);
            SPINN_ACCOUNT(SPINN_OP_WORD, 8);
            SPINN_ACCOUNT(SPINN_OP_UDIV, 1);
            if (++S->smx_in[sample % ring] == 2 * S->smx_tiles && sample == S->smx_done) {
                spin1_schedule_callback(smx_finish, 0, 0, 1);
            }
        } else if (in->partition == PART_GRING) {
            uint v = key - in->key;
            if (v != S->ring_in || !S->reduce) {
                spin1_exit(EXIT_OVERRUN);  // ring values come in order, one pass per batch
                return;
            }
            S->ring[S->ring_in++] = bits_float(payload);
            SPINN_ACCOUNT(SPINN_OP_SDRAM_WORD, 1);
            schedule_ring_pump();
        } else if (in->partition == PART_GSUM) {
            uint v = key - in->key;
            uint row = ring_row(v);
            if (row < S->n_rows) {  // the complete sum replaces this tile's own share
                S->g[row * S->row_length + v % S->row_length] = bits_float(payload);
            }
            SPINN_ACCOUNT(SPINN_OP_WORD, 8);
            if (++S->sums_in == S->ring_values) {  // the update is a task, not interrupt work
                spin1_schedule_callback(ring_update, 0, 0, 1);
            }
        } else if (in->partition == PART_CSUM) {  // the next layer's final sums, for the copy
            uint v = key - in->key;
            if (!S->kernel_copy || v >= S->copy_n) {
                spin1_exit(EXIT_OVERRUN);
                return;
            }
            S->gc[v] = bits_float(payload);
            SPINN_ACCOUNT(SPINN_OP_WORD, 8);
            if (++S->csum_in == S->copy_n) {
                spin1_schedule_callback(copy_commit, 0, 0, 1);
            }
        }
    }
}

static void on_dma(uint id, uint tag) {
    (void) id;
    if (tag == TAG_WEIGHTS) {
        S->ready = 1;
        spin1_schedule_callback(pump, 0, 0, 1);
    } else if (tag == TAG_RESULT) {
        uint32_t *header = (uint32_t *) results();
        header[0] = ++S->n_results;  // the host reads how many results are in
    }
}

static uint allocate(void) {
    uint rows = S->n_rows * S->row_length * sizeof(float);
    uint one = sizeof(float);  // spin1_malloc(0) may fail: allocate at least a word
    S->w = spin1_malloc(rows ? rows : one);
    S->x = spin1_malloc(S->in_flight * S->n_x * sizeof(float));
    S->y = spin1_malloc(S->in_flight * (S->n_out + 1) * sizeof(float));
    S->dz = spin1_malloc((S->n_out ? S->n_out : 1) * sizeof(float));
    S->count = spin1_malloc((S->r.n_in ? S->r.n_in : 1) * sizeof(entry_count_t));
    S->by_key = spin1_malloc((S->r.n_in ? S->r.n_in : 1) * sizeof(uint16_t));
    S->err_index = spin1_malloc((S->r.n_in ? S->r.n_in : 1) * sizeof(uint16_t));
    key_entry_t *in = spin1_malloc((S->r.n_in ? S->r.n_in : 1) * sizeof(key_entry_t));
    S->received = spin1_malloc(S->in_flight * sizeof(uint));
    S->received_bwd = spin1_malloc(S->in_flight * sizeof(uint));
    if (!S->w || !S->x || !S->y || !S->dz || !S->count || !S->by_key || !S->err_index || !in ||
            !S->received || !S->received_bwd) {
        return FALSE;
    }
    if (S->smx_tiles) {
        uint ring = SMX_RING(S->in_flight);
        S->smx = spin1_malloc(ring * S->smx_tiles * 2 * sizeof(float));
        S->smx_in = spin1_malloc(ring * sizeof(uint));
        if (!S->smx || !S->smx_in) {
            return FALSE;
        }
        for (uint i = 0; i < ring; i++) {
            S->smx_in[i] = 0;
        }
    }
    if (S->role == ROLE_CONV) {
        S->row_of = spin1_malloc(S->r.params->out_c * sizeof(uint));
        if (!S->row_of) {
            return FALSE;
        }
    }
    if ((S->role == ROLE_POOL || S->fused) && S->r.params->pool == POOL_MAX) {
        S->argmax = spin1_malloc(S->in_flight * S->n_out * sizeof(uint));
        if (!S->argmax) {
            return FALSE;
        }
    }
    if (S->fused && S->r.params->pool == POOL_AVERAGE && S->training) {
        S->act = spin1_malloc(S->in_flight * S->n_out * pool_window_size(S->r.params) * sizeof(float));
        if (!S->act) {
            return FALSE;
        }
    }
    // every packet looks its entry up: the incoming entries move from SDRAM (KEYS) into DTCM once
    for (uint e = 0; e < S->r.n_in; e++) {
        in[e] = S->r.in[e];
    }
    SPINN_ACCOUNT(SPINN_OP_SDRAM_WORD, S->r.n_in * (sizeof(key_entry_t) / 4));
    S->r.in = in;
    if (S->dz_in && !S->kernel_copy) {  // deltas in place of the error buffers (kernel kind: below)
        S->dz_at = spin1_malloc(S->r.n_in * sizeof(uint));
        uint n = 0;
        for (uint e = 0; S->dz_at && e < S->r.n_in; e++) {
            S->dz_at[e] = n;
            n += S->r.in[e].partition == PART_DZ ? S->r.in[e].count * S->in_flight : 0;
        }
        S->dzbuf = spin1_malloc(n * sizeof(float));
        if (!S->dz_at || !S->dzbuf) {
            return FALSE;
        }
    } else if (!S->kernel_copy && (S->training || S->r.params->is_output)) {  // the loss layer's dL/dz too
        uint n_err = (S->n_bwd_in ? S->n_bwd_in : 1) * S->in_flight * S->n_out;
        S->err = spin1_malloc(n_err * sizeof(float));
        if (!S->err) {
            return FALSE;
        }
        for (uint i = 0; i < n_err; i++) {  // a sender never sends the errors of inputs it does not read
            S->err[i] = 0.0f;
        }
    }
    if (S->training && S->copy_units) {
        uint copy = S->copy_n * sizeof(float);
        S->wc = spin1_malloc(copy);
        S->gc = spin1_malloc(copy);
        if (!S->wc || !S->gc) {
            return FALSE;
        }
    }
    if (S->training && S->kernel_copy) {
        S->fifo_size = S->r.params->delta_fifo;
        S->copy_limit_for = UINT32_MAX;
        S->fifo_key = spin1_malloc(S->fifo_size * sizeof(uint32_t));
        S->fifo_val = spin1_malloc(S->fifo_size * sizeof(float));
        S->dacc = spin1_malloc(S->in_flight * S->n_out * sizeof(uint64_t));
        S->ry = spin1_malloc(3 * S->n_out * sizeof(uint16_t));
        if (!S->fifo_key || !S->fifo_val || !S->dacc || !S->ry) {
            return FALSE;
        }
        S->rx = S->ry + S->n_out;
        S->rc = S->rx + S->n_out;
        for (uint i = 0; i < S->in_flight * S->n_out; i++) {
            S->dacc[i] = 0;
        }
        const params_t *p = S->r.params;
        // an error sums at most one product per filter, kernel tap and pooling tap of the next layer
        uint terms = p->next_out_c * p->next_kernel_h * p->next_kernel_w * p->next_taps;
        S->fix_limit = (float) (1u << 22) / (float) (terms ? terms : 1);
        for (uint a = 0; a < S->n_out; a++) {  // the atom's place in the next layer's input (channels last)
            uint g = S->atom_lo + a, q = g / p->next_in_c;
            S->rc[a] = (uint16_t) (g % p->next_in_c);
            S->rx[a] = (uint16_t) (q % p->next_in_w);
            S->ry[a] = (uint16_t) (q / p->next_in_w);
        }
    }
    if (S->training && S->dz_out && S->fused) {
        S->dtaps = pool_window_size(S->r.params);
        S->dvals = spin1_malloc(S->n_out * S->dtaps * sizeof(float));
        S->dsent = spin1_malloc(((S->n_out * S->dtaps + 31) / 32) * sizeof(uint32_t));
        if (!S->dvals || !S->dsent) {
            return FALSE;
        }
    }
    if (S->training) {
        S->g = spin1_malloc(rows ? rows : one);
        S->dx = S->bwd ? spin1_malloc(S->n_x * sizeof(float)) : S->dz;
        if (!S->g || !S->dx) {
            return FALSE;
        }
        if (S->bwd && S->role != ROLE_DENSE) {
            S->covered = spin1_malloc(((S->n_x + 31) / 32) * sizeof(uint32_t));
            if (!S->covered) {
                return FALSE;
            }
        }
        for (uint i = 0; i < S->n_rows * S->row_length; i++) {
            S->g[i] = 0.0f;
        }
    }
    return TRUE;
}

// The role's geometry checks; FALSE if the image does not describe a tile of it.
static uint geometry_ok(const params_t *p, const uint32_t *row_ids) {
    S->n_out = p->atom_hi - p->atom_lo;
    S->n_x = p->in_hi - p->in_lo;
    if (S->role == ROLE_DENSE) {
        return S->fan_in == S->n_x && S->n_rows == S->n_out;
    }
    if (S->role == ROLE_POOL) {
        return S->n_rows == 0 && p->pool != POOL_NONE && !p->is_output && p->out_c;
    }
    // conv: a row per filter the tile covers, each (kh x kw x cin) weights and the bias
    if (S->fan_in != p->kernel_h * p->kernel_w * p->in_c || p->is_output || !p->out_c) {
        return FALSE;
    }
    if (S->fused && (p->pool >= N_POOLS || !p->pool_kernel_h || !p->pool_kernel_w || !p->pool_stride_h ||
                     !p->pool_stride_w || p->n_layer_atoms != p->pool_out_h * p->pool_out_w * p->out_c)) {
        return FALSE;  // the pooled grid does not describe this layer's atoms
    }
    for (uint c = 0; c < p->out_c; c++) {
        S->row_of[c] = S->n_rows;  // not held
    }
    for (uint r = 0; r < S->n_rows; r++) {
        if (row_ids[r] >= p->out_c) {
            return FALSE;
        }
        S->row_of[row_ids[r]] = r;
    }
    for (uint i = p->atom_lo; i < p->atom_hi; i++) {
        if (S->row_of[i % p->out_c] == S->n_rows) {
            return FALSE;  // an atom whose filter the tile lacks
        }
    }
    return TRUE;
}

static void layer_main(void) {
    if (!tile_read_regions(&S->r) || (S->r.params->role != ROLE_DENSE && S->r.params->role != ROLE_CONV &&
                                      S->r.params->role != ROLE_POOL)) {
        spin1_exit(EXIT_BAD_IMAGE);
        return;
    }
    const params_t *p = S->r.params;
    data_specification_metadata_t *ds = data_specification_get_data_address();
    const weights_header_t *wh = data_specification_get_region(REGION_WEIGHTS, ds);
    S->opt = data_specification_get_region(REGION_OPTIMIZER, ds);
    S->training = S->opt->batch_size > 0;
    S->role = p->role;
    S->fused = p->role == ROLE_CONV && p->pool != POOL_NONE;
    S->n_rows = wh->n_rows;
    S->row_length = wh->row_length;
    S->copy_units = wh->copy_rows;  // WORK keeps the copy's momentum, training or not (the layout)
    S->copy_length = wh->copy_length;
    S->copy_n = S->copy_units * S->copy_length;
    S->kernel_copy = p->copy_kind == 1 && S->copy_units;
    S->fan_in = wh->row_length ? wh->row_length - 1 : 0;
    S->in_lo = p->in_lo;
    S->atom_lo = p->atom_lo;
    S->atom_hi = p->atom_hi;
    S->fwd = tile_out_entry(&S->r, PART_FWD);
    S->n_fwd = tile_out_count(&S->r, S->fwd);
    S->bwd = tile_out_entry(&S->r, PART_BWD);
    S->n_bwd_out = tile_out_count(&S->r, S->bwd);
    S->gring = tile_out_entry(&S->r, PART_GRING);
    S->gsum = tile_out_entry(&S->r, PART_GSUM);
    S->dz_out = tile_out_entry(&S->r, PART_DZ);
    S->n_out = p->atom_hi - p->atom_lo;
    S->n_x = p->in_hi - p->in_lo;
    if ((p->activation == ACT_SOFTMAX && p->n_tiles != 1 && S->training && S->opt->loss != LOSS_SCE) ||
            (S->training && p->is_output && S->opt->loss == LOSS_SCE && p->activation != ACT_SOFTMAX) ||
            S->opt->loss >= N_LOSSES) {
        spin1_exit(EXIT_UNSUPPORTED);  // MSE through a split softmax, cross-entropy without softmax
        return;
    }
    if (p->activation == ACT_SOFTMAX && p->n_tiles != 1) {
        uint pairs_in = 0;
        for (uint e = 0; e < S->r.n_in; e++) {
            pairs_in += S->r.in[e].partition == PART_SOFTMAX && S->r.in[e].count == 2 &&
                        S->r.in[e].offset < p->n_tiles;
        }
        S->smx_out = tile_out_entry(&S->r, PART_SOFTMAX);
        if (!p->is_output || !S->smx_out || S->smx_out->count != 2 || pairs_in != p->n_tiles) {
            spin1_exit(EXIT_BAD_IMAGE);  // every tile of a split softmax sends its pair to every tile
            return;
        }
        S->smx_tiles = p->n_tiles;
    }
    for (uint e = 0; e < S->r.n_in; e++) {
        const key_entry_t *in = &S->r.in[e];
        if ((in->partition == PART_FWD || in->partition == PART_BWD || in->partition == PART_DZ) &&
                (in->per_sample == 0 || in->per_sample > in->count)) {
            spin1_exit(EXIT_BAD_IMAGE);  // each sample sends at least one of the entry's keys, each once
            return;
        }
        if (in->partition == PART_FWD) {
            S->expected += in->per_sample;
        } else if (in->partition == PART_LABEL && p->is_output) {
            S->has_label = 1;
        } else if (in->partition == PART_GRING || in->partition == PART_GSUM) {
            S->reduce = 1;
        }
    }
    // in a gradient ring: every tile sends on (gring) or takes the sums (gsum); the last sends gsum
    S->reduce = S->reduce || S->gring;
    S->is_last = S->reduce && S->gsum;
    S->ring_lo = p->ring_filter_lo;
    S->ring_values = p->ring_filters * S->row_length;
    if (S->reduce && (p->ring_filters == 0 || p->ring_filter_lo + p->ring_filters > p->out_c ||
                      (p->ring_first && (!S->gring || S->is_last)))) {
        spin1_exit(EXIT_BAD_IMAGE);  // a ring carries some filters; its first tile passes them on
        return;
    }
    S->in_flight = p->in_flight ? p->in_flight : 1;
    if (S->in_flight > 0xFFFFu) {
        spin1_exit(EXIT_UNSUPPORTED);  // count.pos holds a sample's slot in 16 bits
        return;
    }
    S->bwd = S->training ? S->bwd : NULL;
    S->dz_out = S->training ? S->dz_out : NULL;
    uint n_bwd = 0;
    for (uint e = 0; e < S->r.n_in; e++) {
        uint part = S->r.in[e].partition;
        if ((part == PART_FWD || part == PART_BWD || part == PART_DZ) &&
                (S->r.in[e].per_sample == 0 || S->r.in[e].per_sample > 0xFFFFu)) {
            spin1_exit(EXIT_UNSUPPORTED);  // count.pos holds a sample's packets in 16 bits
            return;
        }
        if ((part == PART_BWD || part == PART_DZ) && S->training) {
            n_bwd++;
            S->expected_bwd += S->r.in[e].per_sample;
            S->dz_in = S->dz_in || part == PART_DZ;
        }
    }
    S->n_bwd_in = n_bwd;
    if (S->smx_tiles && S->training) {
        S->expected_bwd = 1;  // the loss layer's backward waits for its sample's normalisation
    }
    if ((S->training && S->dz_in != (S->copy_units > 0)) ||
            (S->copy_units && !S->kernel_copy && wh->copy_length != S->n_out) ||
            (S->kernel_copy && (wh->copy_rows != p->next_out_c || !p->next_taps || !p->next_pool_kernel_w ||
                                !p->next_pool_out_w || !p->next_in_c || !p->next_in_w || !p->delta_fifo ||
                                S->in_flight > 255 || S->r.n_in > 255 ||
                                wh->copy_length != p->next_kernel_h * p->next_kernel_w * p->next_in_c + 1))) {
        spin1_exit(EXIT_BAD_IMAGE);  // deltas need the copy of the weights that read this tile's atoms
        return;
    }
    if (S->kernel_copy) {
        for (uint e = 0; e < S->r.n_in; e++) {
            if (S->r.in[e].partition == PART_DZ && S->r.in[e].count > 0x10000) {
                spin1_exit(EXIT_BAD_IMAGE);  // a queued delta keeps its key offset in 16 bits
                return;
            }
        }
    }
    if (S->dz_out && S->fused && S->dz_out->count != S->n_out * pool_window_size(p)) {
        spin1_exit(EXIT_BAD_IMAGE);  // a convolution's deltas: a key per pooled window tap
        return;
    }
    if (!allocate()) {
        spin1_exit(EXIT_NO_DTCM);
        return;
    }
    if (!geometry_ok(p, (const uint32_t *) wh + WEIGHTS_HEADER_WORDS) ||
            (S->covered && (S->fused ? conv_pool_cover(p, S->covered, S->n_x)
                                     : receptive_cover(p, S->role == ROLE_POOL, S->covered, S->n_x)) !=
                               p->n_in_needed)) {
        spin1_exit(EXIT_BAD_IMAGE);  // the receivers expect exactly the covered inputs' errors
        return;
    }
    if (S->reduce && (!S->training || S->role != ROLE_CONV)) {
        S->reduce = S->training && S->role == ROLE_CONV;  // inference: no gradient to reduce
        S->is_last = S->reduce && S->is_last;
    }
    S->vc = (float *) S->r.work + S->n_rows * S->row_length;
    S->ring = S->vc + S->copy_n;
    for (uint e = 0; e < S->r.n_in; e++) {  // insertion sort of the entries by first key
        uint at = e;
        while (at > 0 && S->r.in[S->by_key[at - 1]].key > S->r.in[e].key) {
            S->by_key[at] = S->by_key[at - 1];
            at--;
        }
        S->by_key[at] = (uint16_t) e;  // 16 bits: DTCM holds under 2,000 entries (allocate)
    }
    S->key_shift = 31;  // the smallest block's size, a power of two (aligned blocks)
    for (uint e = 0; e < S->r.n_in; e++) {
        uint size = ~S->r.in[e].mask + 1u, shift = 0;
        while (shift < 31 && (1u << shift) < size) {
            shift++;
        }
        S->key_shift = shift < S->key_shift ? shift : S->key_shift;
    }
    // The memo takes what DTCM is left after everything else (the last allocation), up to
    // KEY_MEMO_MAX slots: it only saves time, so the tiler leaves no room for it, and a tile with
    // fewer than KEY_MEMO_MIN slots' room searches every packet.
    for (uint slots = KEY_MEMO_MAX; slots >= KEY_MEMO_MIN && !S->key_memo; slots /= 2) {
        S->key_memo = spin1_malloc(slots * sizeof(uint16_t));
        S->memo_mask = slots - 1;
    }
    for (uint i = 0; S->key_memo && i <= S->memo_mask; i++) {
        S->key_memo[i] = UINT16_MAX;  // no entry: the first key of each slot searches
    }
    SPINN_ACCOUNT(SPINN_OP_WORD, S->key_memo ? S->memo_mask + 1 : 0);
    for (uint e = 0, b = 0; e < S->r.n_in; e++) {
        S->count[e].sample = 0;
        S->count[e].pos = 0;
        S->err_index[e] = (uint16_t) (S->r.in[e].partition == PART_BWD || S->r.in[e].partition == PART_DZ ? b++ : 0);
    }
    for (uint i = 0; i < S->in_flight; i++) {
        S->received[i] = 0;
        S->received_bwd[i] = 0;
    }
    S->v = (float *) S->r.work;
    if (S->training) {
        for (uint i = 0; i < S->n_rows * S->row_length + S->copy_n; i++) {
            S->v[i] = 0.0f;  // the copy's momentum follows
        }
    }
    if (p->is_output) {
        uint32_t *header = (uint32_t *) results();
        S->result_slots = p->samples_per_load ? p->samples_per_load : 1;
        header[0] = 0;
        header[1] = S->n_out;
        header[2] = S->n_out + 1;
    }
    const uint32_t *rows = (const uint32_t *) wh + WEIGHTS_HEADER_WORDS + S->n_rows;  // after the header, row ids
    spin1_callback_on(DMA_TRANSFER_DONE, on_dma, 0);
    spin1_callback_on(MCPL_PACKET_RECEIVED, on_packet, -1);
    if (S->n_rows) {
        spin1_dma_transfer(TAG_WEIGHTS, (void *) rows, S->w, DMA_READ, S->n_rows * S->row_length * sizeof(float));
    } else {
        S->ready = 1;  // no weights to load (pooling)
    }
    if (S->training && S->copy_units) {  // read once from SDRAM; written back after each update
        const float *copy = (const float *) rows + S->n_rows * S->row_length;
        for (uint i = 0; i < S->copy_n; i++) {
            S->wc[i] = copy[i];
            S->gc[i] = 0.0f;
        }
        SPINN_ACCOUNT(SPINN_OP_SDRAM_WORD, S->copy_n);
    }
    spin1_start(SYNC_WAIT);
}

SPINN_PROGRAM(layer, layer_state_t, layer_main);
