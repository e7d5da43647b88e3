// When one outgoing link of a router is busy: the packets booked on it that
// have not finished crossing.
//
// The router walks a packet's whole multicast tree when the packet leaves its
// core (router.c), so a link is booked for hops that happen later than the
// machine's clock, and a packet sent later may reach the same link earlier.
// A link therefore keeps its bookings as sorted, disjoint intervals, and a
// copy takes the first gap long enough for it at or after the time it is
// ready.  When bookings arrive in the order their copies are ready, the first
// gap is always after the last booking: the link sends one packet at a time,
// first come first served, as the previous hop-by-hop model did.  Trees are
// booked in the order packets are sent, though, which is not always the order
// their copies reach a link: a copy ready first can wait behind an earlier
// booking it does not fit ahead of (router.c; the README quotes the effect).
#ifndef SPINN_EMU_LINK_SCHEDULE_H
#define SPINN_EMU_LINK_SCHEDULE_H

#include <stdint.h>

typedef struct {
    uint64_t start, end;  // cycles: the link carries one packet in [start, end)
} emu_busy_t;

typedef struct {
    emu_busy_t *v;  // bookings v[head .. head + n), by start
    uint32_t head, n, cap;
} emu_link_schedule_t;

// The earliest start at or after `ready` of a gap of `length` cycles.  Bookings that
// ended by `now` (the machine's clock: no later request can be ready before it) are
// forgotten first.  *slot receives where a booking at that start belongs.
uint64_t emu_link_first_gap(emu_link_schedule_t *s, uint64_t now, uint64_t ready, uint32_t length,
                            uint32_t *slot);
// Books [start, start + length) at `slot` from emu_link_first_gap.  0 if memory runs out.
int emu_link_book(emu_link_schedule_t *s, uint32_t slot, uint64_t start, uint32_t length);
void emu_link_schedule_free(emu_link_schedule_t *s);

#endif  // SPINN_EMU_LINK_SCHEDULE_H
