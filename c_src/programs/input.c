// Input tile: streams the samples the host staged in its WORK region into the
// network, one sample per timer tick, on its fwd keys (payload: the float's bits).
//
// WORK region, as the host stages it (spinn_dnn/emulator/staging.py):
//   uint32 n_samples; uint32 tick_us; uint32 batch_gap_ticks; uint32 reserved;
//   float x[n_samples][atom_hi - atom_lo];
//   and on the tile with the label partition (tile 0): uint32 label[n_samples]
// Each sample is moved from SDRAM into DTCM by DMA, as on a board, then sent;
// its label (payload: the class) goes first, to the loss layer.
//
// Training (OPTIMIZER batch_size > 0): after the last sample of a batch the tile
// waits batch_gap_ticks ticks, so the weight update of every layer is done
// before the next batch's samples fill the tiles' input slots (a tile would
// otherwise hold them until its update is done, and could run out of slots).
//
// When the staged samples are all sent the tile pauses (its timer stops); the
// host stages the next chunk and sends it a message (a USER_EVENT here; an SDP
// packet on a board), and it resumes with the new chunk.  Sample numbering goes
// on across chunks, as every tile counts samples from the start of the run.
#include "tile_common.h"

#define TAG_SAMPLE 1
#define HEADER_WORDS 4

typedef struct {
    tile_regions_t r;
    const key_entry_t *fwd;    // the first of n_fwd forward entries (tiling.fwd_runs)
    uint n_fwd;
    const key_entry_t *label;  // NULL but on tile 0
    volatile optimizer_t *opt;
    uint n_atoms, n_samples, next;
    uint sent;        // samples sent since the start (all chunks)
    uint gap_left;    // ticks still to wait after a batch
    uint busy;        // a sample is on its way in (DMA) or out (sending)
    uint late_ticks;  // ticks that found the previous sample still busy: they wait for the next
    float *x;  // one sample, in DTCM
} input_state_t;

SPINN_STATE_DECLARE(input_state_t);
#define S SPINN_STATE(input_state_t)

static void send_sample(uint sample, uint unused) {
    (void) unused;
    const uint32_t *work = S->r.work;
    if (S->label) {
        const uint32_t *labels = &work[HEADER_WORDS + S->n_samples * S->n_atoms];
        spin1_send_mc_packet(S->label->key, labels[sample], WITH_PAYLOAD);
    }
    if (S->fwd) {  // a tile whose atoms no receptive field reads has no fwd keys: it only keeps pace
        tile_send_fwd(S->fwd, S->n_fwd, S->x, S->r.params->atom_lo, S->r.params->tile_index,
                      S->r.params->n_tiles);
    }
    if (S->opt->batch_size && tile_ends_batch(S->opt->epoch_samples, S->opt->batch_size, S->sent)) {
        S->gap_left = work[2];
    }
    S->sent++;
    S->busy = 0;
}

static void on_dma(uint id, uint tag) {
    (void) id;
    if (tag == TAG_SAMPLE) {
        spin1_schedule_callback(send_sample, S->next - 1, 0, 1);
    }
}

static void on_tick(uint tick, uint unused) {
    (void) tick;
    (void) unused;
    if (S->busy) {
        S->late_ticks++;  // never overwrite the sample being sent
        return;
    }
    if (S->gap_left) {
        S->gap_left--;
        return;
    }
    if (S->next == S->n_samples) {
        spin1_pause();  // all staged samples are out: wait for the host
        return;
    }
    S->busy = 1;
    const uint32_t *work = S->r.work;
    const float *samples = (const float *) &work[HEADER_WORDS];
    spin1_dma_transfer(TAG_SAMPLE, (void *) &samples[S->next * S->n_atoms], S->x, DMA_READ,
                       S->n_atoms * sizeof(float));
    S->next++;
}

// The host staged a new chunk: start on it.
static void on_host(uint arg0, uint arg1) {
    (void) arg0;
    (void) arg1;
    const uint32_t *work = S->r.work;
    S->n_samples = work[0];
    S->next = 0;
    spin1_resume(SYNC_NOWAIT);
}

static void input_main(void) {
    if (!tile_read_regions(&S->r) || S->r.params->role != ROLE_INPUT) {
        spin1_exit(1);
        return;
    }
    const uint32_t *work = S->r.work;
    data_specification_metadata_t *ds = data_specification_get_data_address();
    S->opt = data_specification_get_region(REGION_OPTIMIZER, ds);
    S->fwd = tile_out_entry(&S->r, PART_FWD);
    S->n_fwd = tile_out_count(&S->r, S->fwd);
    S->label = tile_out_entry(&S->r, PART_LABEL);
    S->n_atoms = S->r.params->atom_hi - S->r.params->atom_lo;
    S->n_samples = work[0];
    S->x = spin1_malloc(S->n_atoms * sizeof(float));
    uint lo = S->r.params->atom_lo;
    for (uint j = 0; j < S->n_fwd; j++) {  // each entry's atoms must be the tile's
        if (S->fwd[j].offset < lo || S->fwd[j].offset + S->fwd[j].count > lo + S->n_atoms) {
            spin1_exit(1);
            return;
        }
    }
    if (!S->x) {
        spin1_exit(2);
        return;
    }
    spin1_callback_on(DMA_TRANSFER_DONE, on_dma, 0);
    spin1_callback_on(TIMER_TICK, on_tick, 2);
    spin1_callback_on(USER_EVENT, on_host, 1);
    spin1_set_timer_tick(work[1]);
    spin1_start(SYNC_WAIT);
}

SPINN_PROGRAM(input, input_state_t, input_main);
