// Dense tile, forward pass: receives its layer's inputs by key (fwd packets,
// payload: float bits), computes y = act(W x + b) for its rows in float32 and
// sends y on its fwd keys; the loss layer's tiles write y to their WORK region
// for the host instead (predictions).
//
// Several samples in flight (params in_flight = S): packets from one source
// arrive in the order it sent them (one fixed path through FIFO routers), so
// the n-th packet of an incoming entry belongs to sample n / count.  Sample k
// fills input slot k % S; when all its inputs are in, a queued callback
// computes it while the next samples arrive.  A source more than S samples
// ahead of this tile would overwrite a slot still in use: the tile stops with
// EXIT_OVERRUN rather than compute garbage (the input tile's pacing prevents it).
//
// The sums run over the inputs in index order once a sample's inputs are all
// in, not in the order packets arrive: the result does not depend on packet
// timing, so every run (and the ARM build) gives the same bits.
//
// Memory: W and b in DTCM (loaded from the WEIGHTS region by DMA at start), S
// samples' inputs, S outputs.  The backward pass and the weight update are
// still to come.
//
// The loss layer's tile also receives each sample's label (label partition,
// from input tile 0, payload: the class) and computes the sparse categorical
// cross-entropy of its softmax output as Keras does: -log(clip(p[label], 1e-7,
// 1 - 1e-7)).
//
// Output tile WORK region: uint32 n_done; uint32 n_rows; uint32 record (n_rows + 1);
// then per sample: float y[n_rows], float loss.
#include "activation.h"
#include "tile_common.h"

#define TAG_WEIGHTS 1
#define TAG_RESULT 2

// exit codes: why a tile refused to run
#define EXIT_BAD_IMAGE 1
#define EXIT_NO_DTCM 2
#define EXIT_UNSUPPORTED 3
#define EXIT_OVERRUN 4

// Labels wait in a ring: one arrives with its sample's pixels, long before the
// sample reaches the loss layer, and up to (layers x in_flight) samples are
// between the two.
#define LABEL_RING 64
#define LOSS_EPSILON 1e-7f  // keras.config.epsilon(), the clip of the probabilities

typedef struct {
    tile_regions_t r;
    const key_entry_t *fwd;  // NULL on the loss layer
    uint n_rows, row_length, fan_in, in_lo, in_flight;
    uint expected;     // fwd packets per sample
    uint *from_entry;  // packets received so far per incoming entry
    uint *received;    // per slot: packets of its sample so far
    uint completed;    // samples computed (they complete in order)
    uint ready, samples_done;
    uint has_label, labels_in;  // a label entry comes in; labels received so far
    uint label[LABEL_RING];
    float *w;  // n_rows x row_length, bias last in each row
    float *x;  // in_flight x fan_in inputs
    float *y;  // in_flight x (n_rows + 1) outputs and the loss (a DMA may still be reading one)
} dense_state_t;

SPINN_STATE_DECLARE(dense_state_t);
#define S SPINN_STATE(dense_state_t)

static void forward(uint slot, uint sample) {
    if (!S->ready) {  // the weights' DMA is still going: look again after it
        spin1_schedule_callback(forward, slot, sample, 1);
        return;
    }
    if (S->has_label && S->labels_in <= sample) {  // its label has not come yet
        spin1_schedule_callback(forward, slot, sample, 1);
        return;
    }
    const params_t *p = S->r.params;
    const float *x = &S->x[slot * S->fan_in];
    float *y = &S->y[slot * (S->n_rows + 1)];
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
    apply_activation(p->activation, y, S->n_rows);
    S->completed++;  // slot free again: its inputs are no longer needed
    if (p->is_output) {
        y[S->n_rows] = 0.0f;
        if (S->has_label) {
            uint label = S->label[sample % LABEL_RING] - p->atom_lo;
            float prob = label < S->n_rows ? y[label] : 0.0f;
            prob = prob < LOSS_EPSILON ? LOSS_EPSILON : (prob > 1.0f - LOSS_EPSILON ? 1.0f - LOSS_EPSILON : prob);
            y[S->n_rows] = -logf(prob);
            SPINN_ACCOUNT(SPINN_OP_FEXP, 1);
        }
        uint32_t *work = S->r.work;
        float *out = (float *) &work[3];
        spin1_dma_transfer(TAG_RESULT, &out[sample * (S->n_rows + 1)], y, DMA_WRITE,
                           (S->n_rows + 1) * sizeof(float));
    } else if (S->fwd) {
        tile_send_paced(S->fwd, y, S->n_rows, p->tile_index, p->n_tiles);
        S->samples_done++;
    }
}

static void on_packet(uint key, uint payload) {
    for (uint e = 0; e < S->r.n_in; e++) {
        const key_entry_t *in = &S->r.in[e];
        if ((key & in->mask) != in->key) {
            continue;
        }
        if (in->partition == PART_LABEL) {
            uint sample = S->from_entry[e]++;
            if (sample >= S->completed + LABEL_RING) {
                spin1_exit(EXIT_OVERRUN);
                return;
            }
            S->label[sample % LABEL_RING] = payload;
            S->labels_in++;
            return;
        }
        if (in->partition != PART_FWD) {
            continue;
        }
        uint sample = S->from_entry[e]++ / in->count;
        if (sample >= S->completed + S->in_flight) {
            spin1_exit(EXIT_OVERRUN);
            return;
        }
        uint slot = sample % S->in_flight;
        S->x[slot * S->fan_in + in->offset + (key - in->key) - S->in_lo] = bits_float(payload);
        SPINN_ACCOUNT(SPINN_OP_WORD, 6 * (e + 1));
        if (++S->received[slot] == S->expected) {
            S->received[slot] = 0;
            spin1_schedule_callback(forward, slot, sample, 1);
        }
        return;
    }
}

static void on_dma(uint id, uint tag) {
    (void) id;
    if (tag == TAG_WEIGHTS) {
        S->ready = 1;
    } else if (tag == TAG_RESULT) {
        uint32_t *work = S->r.work;
        work[0] = ++S->samples_done;  // the host reads how many results are in
    }
}

static void dense_main(void) {
    if (!tile_read_regions(&S->r) || S->r.params->role != ROLE_DENSE) {
        spin1_exit(EXIT_BAD_IMAGE);
        return;
    }
    const params_t *p = S->r.params;
    data_specification_metadata_t *ds = data_specification_get_data_address();
    const weights_header_t *wh = data_specification_get_region(REGION_WEIGHTS, ds);
    S->n_rows = wh->n_rows;
    S->row_length = wh->row_length;
    S->fan_in = wh->row_length - 1;
    S->in_lo = p->in_lo;
    S->fwd = tile_out_entry(&S->r, PART_FWD);
    if (S->fan_in != p->in_hi - p->in_lo || S->n_rows != p->atom_hi - p->atom_lo) {
        spin1_exit(EXIT_BAD_IMAGE);
        return;
    }
    if (p->activation == ACT_SOFTMAX && p->n_tiles != 1) {
        spin1_exit(EXIT_UNSUPPORTED);  // softmax across tiles (the softmax partition) is not written yet
        return;
    }
    for (uint e = 0; e < S->r.n_in; e++) {
        if (S->r.in[e].partition == PART_FWD) {
            S->expected += S->r.in[e].count;
        } else if (S->r.in[e].partition == PART_LABEL && p->is_output) {
            S->has_label = 1;
        }
    }
    S->in_flight = p->in_flight ? p->in_flight : 1;
    S->w = spin1_malloc(S->n_rows * S->row_length * sizeof(float));
    S->x = spin1_malloc(S->in_flight * S->fan_in * sizeof(float));
    S->y = spin1_malloc(S->in_flight * (S->n_rows + 1) * sizeof(float));
    S->from_entry = spin1_malloc((S->r.n_in ? S->r.n_in : 1) * sizeof(uint));
    S->received = spin1_malloc(S->in_flight * sizeof(uint));
    if (!S->w || !S->x || !S->y || !S->from_entry || !S->received) {
        spin1_exit(EXIT_NO_DTCM);
        return;
    }
    for (uint e = 0; e < S->r.n_in; e++) {
        S->from_entry[e] = 0;
    }
    for (uint i = 0; i < S->in_flight; i++) {
        S->received[i] = 0;
    }
    if (p->is_output) {
        uint32_t *work = S->r.work;
        work[0] = 0;
        work[1] = S->n_rows;
        work[2] = S->n_rows + 1;
    }
    const uint32_t *rows = (const uint32_t *) wh + 2 + S->n_rows;  // after the header and the row ids
    spin1_callback_on(DMA_TRANSFER_DONE, on_dma, 0);
    spin1_callback_on(MCPL_PACKET_RECEIVED, on_packet, -1);
    spin1_dma_transfer(TAG_WEIGHTS, (void *) rows, S->w, DMA_READ, S->n_rows * S->row_length * sizeof(float));
    spin1_start(SYNC_WAIT);
}

SPINN_PROGRAM(dense, dense_state_t, dense_main);
