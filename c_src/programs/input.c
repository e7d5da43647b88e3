// Input tile: streams the samples the host staged in its WORK region into the
// network, one sample per timer tick, on its fwd keys (payload: the float's bits).
//
// WORK region, as the host stages it (spinn_dnn/emulator/predict.py):
//   uint32 n_samples; uint32 tick_us; float x[n_samples][atom_hi - atom_lo]
// Each sample is moved from SDRAM into DTCM by DMA, as on a board, then sent.
// Forward pass only so far: labels (the label partition) are not sent yet.
#include "tile_common.h"

#define TAG_SAMPLE 1

typedef struct {
    tile_regions_t r;
    const key_entry_t *fwd;
    uint n_atoms, n_samples, next;
    uint busy;        // a sample is on its way in (DMA) or out (sending)
    uint late_ticks;  // ticks that found the previous sample still busy: they wait for the next
    float *x;  // one sample, in DTCM
} input_state_t;

SPINN_STATE_DECLARE(input_state_t);
#define S SPINN_STATE(input_state_t)

static void send_sample(uint unused0, uint unused1) {
    (void) unused0;
    (void) unused1;
    tile_send_paced(S->fwd, S->x, S->n_atoms, S->r.params->tile_index, S->r.params->n_tiles);
    S->busy = 0;
}

static void on_dma(uint id, uint tag) {
    (void) id;
    if (tag == TAG_SAMPLE) {
        spin1_schedule_callback(send_sample, 0, 0, 1);
    }
}

static void on_tick(uint tick, uint unused) {
    (void) tick;
    (void) unused;
    if (S->busy) {
        S->late_ticks++;  // never overwrite the sample being sent
        return;
    }
    if (S->next == S->n_samples) {
        spin1_exit(0);
        return;
    }
    S->busy = 1;
    const uint32_t *work = S->r.work;
    const float *samples = (const float *) &work[2];
    spin1_dma_transfer(TAG_SAMPLE, (void *) &samples[S->next * S->n_atoms], S->x, DMA_READ,
                       S->n_atoms * sizeof(float));
    S->next++;
}

static void input_main(void) {
    if (!tile_read_regions(&S->r) || S->r.params->role != ROLE_INPUT) {
        spin1_exit(1);
        return;
    }
    const uint32_t *work = S->r.work;
    S->fwd = tile_out_entry(&S->r, PART_FWD);
    S->n_atoms = S->r.params->atom_hi - S->r.params->atom_lo;
    S->n_samples = work[0];
    S->x = spin1_malloc(S->n_atoms * sizeof(float));
    if (!S->fwd || !S->x || S->fwd->count != S->n_atoms) {
        spin1_exit(2);
        return;
    }
    spin1_callback_on(DMA_TRANSFER_DONE, on_dma, 0);
    spin1_callback_on(TIMER_TICK, on_tick, 2);
    spin1_set_timer_tick(work[1]);
    spin1_start(SYNC_WAIT);
}

SPINN_PROGRAM(input, input_state_t, input_main);
