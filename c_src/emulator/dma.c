// A core's DMA engine: transfers between the chip's SDRAM and the core's DTCM,
// queued (EMU_DMA_QUEUE_SIZE, as the spin1 API's queue), served one after the
// other.  The data moves when the transfer completes, as on the hardware,
// where DTCM holds the old contents until the engine has written it; then
// DMA_TRANSFER_DONE is raised with (transfer id, tag).  Both addresses must lie
// inside the right memory: anything else is a program error that stops the run.
#include <string.h>

#include "emu.h"

static int inside(const uint8_t *p, uint length, const uint8_t *base, uint64_t size) {
    return p >= base && (uint64_t) (p - base) + length <= size;
}

uint emu_dma_request(emu_core_t *core, uint tag, void *system_address, void *tcm_address, uint direction,
                     uint length) {
    emu_machine_t *m = core->machine;
    emu_chip_t *chip = &m->chips[core->chip];
    if (!inside(system_address, length, chip->sdram, chip->sdram_used) ||
            !inside(tcm_address, length, core->dtcm, core->dtcm_used)) {
        emu_fail(m, "core (%u, %u, %u): DMA of %u bytes outside its chip's SDRAM or its own DTCM", core->x,
                 core->y, core->p, length);
        return FAILURE;
    }
    if (core->dma_n == EMU_DMA_QUEUE_SIZE) {
        return FAILURE;  // spin1_dma_transfer fails when its queue is full
    }
    uint id = ++core->dma_next_id;
    core->dma[(core->dma_head + core->dma_n++) % EMU_DMA_QUEUE_SIZE] =
        (emu_dma_t) {id, tag, direction, length, system_address, tcm_address};
    uint64_t start = core->dma_free > core->now ? core->dma_free : core->now;
    core->dma_free = start + EMU_DMA_SETUP_CYCLES + (length + EMU_DMA_BYTES_PER_CYCLE - 1) / EMU_DMA_BYTES_PER_CYCLE;
    emu_eq_push(&m->events, core->dma_free, EV_DMA_DONE, core->id, 0, 0, 0);
    core->c.dma_transfers++;
    core->c.dma_bytes += length;
    return id;
}

void emu_dma_done(emu_machine_t *m, emu_core_t *core) {
    if (core->exited || !core->dma_n) {
        return;
    }
    emu_dma_t t = core->dma[core->dma_head];
    core->dma_head = (core->dma_head + 1) % EMU_DMA_QUEUE_SIZE;
    core->dma_n--;
    if (t.direction == DMA_READ) {
        memmove(t.tcm, t.sdram, t.length);
    } else {
        memmove(t.sdram, t.tcm, t.length);
    }
    emu_core_irq(m, core, DMA_TRANSFER_DONE, t.id, t.tag);
}
