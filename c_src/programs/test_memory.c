// Test program for the emulator's memories and timer: fills its DTCM heap
// with spin1_malloc until it is refused, DMAs its PARAMS region from SDRAM into
// DTCM and back out into its WORK region, and exits on the third timer tick.
#include "data_specification.h"
#include <spin1_api.h>
#include "spinn_dnn_regions.h"
#include "spinn_program.h"

#define CHUNK 1024
#define COPY_BYTES 64
#define TAG_IN 7
#define TAG_OUT 8

typedef struct {
    uint chunks;      // CHUNK-byte blocks spin1_malloc gave before refusing
    uint dma_done;    // completions seen
    uint last_tag;
    uint ticks_seen;
    uint8_t *buffer;  // COPY_BYTES in DTCM
} memory_state_t;

SPINN_STATE_DECLARE(memory_state_t);
#define S SPINN_STATE(memory_state_t)

static void on_dma(uint id, uint tag) {
    (void) id;
    S->dma_done++;
    S->last_tag = tag;
    if (tag == TAG_IN) {
        data_specification_metadata_t *ds = data_specification_get_data_address();
        spin1_dma_transfer(TAG_OUT, data_specification_get_region(REGION_WORK, ds), S->buffer, DMA_WRITE,
                           COPY_BYTES);
    }
}

static void on_tick(uint tick, uint unused) {
    (void) unused;
    S->ticks_seen = tick;
    if (tick == 3) {
        spin1_exit(0);
    }
}

static void memory_main(void) {
    data_specification_metadata_t *ds = data_specification_get_data_address();
    S->buffer = spin1_malloc(COPY_BYTES);
    while (spin1_malloc(CHUNK)) {
        S->chunks++;
    }
    spin1_callback_on(DMA_TRANSFER_DONE, on_dma, 0);
    spin1_callback_on(TIMER_TICK, on_tick, 1);
    spin1_set_timer_tick(10);
    spin1_dma_transfer(TAG_IN, data_specification_get_region(REGION_PARAMS, ds), S->buffer, DMA_READ, COPY_BYTES);
    spin1_start(SYNC_WAIT);
}

SPINN_PROGRAM(test_memory, memory_state_t, memory_main);
