// A link's bookings (c_src/emulator/link_schedule.c) against a cycle-by-cycle
// occupancy map: random requests, ready in and out of order, each must get the
// earliest start at or after its ready time where the link is free for its
// whole length, and bookings must never overlap.  Requests that come in the
// order they are ready must be served first come first served, exactly as a
// single "link free at" time would serve them.  Prints "ok <requests>" or the
// first mismatch.  Built and run by tests/test_emulator_fast_paths.py.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "link_schedule.h"

#define SPAN 200000u  // cycles the map covers per trial

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static uint32_t rnd(void) {  // xorshift64
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t) (rng_state >> 16);
}

static uint8_t busy[2 * SPAN];

static uint64_t first_free(uint64_t ready, uint32_t length) {
    for (uint64_t t = ready; t + length < sizeof(busy); t++) {
        uint32_t k = 0;
        while (k < length && !busy[t + k]) {
            k++;
        }
        if (k == length) {
            return t;
        }
    }
    return UINT64_MAX;  // beyond the map: the trial is too busy (reported as a mismatch)
}

int main(void) {
    uint64_t requests = 0;
    for (int trial = 0; trial < 100; trial++) {
        memset(busy, 0, sizeof(busy));
        emu_link_schedule_t s = {0};
        int in_order = trial % 4 == 0;
        uint64_t now = 0, last_ready = 0, link_free = 0;
        while (now < SPAN - 3000) {
            now += rnd() % (in_order ? 60 : 180);  // the machine's clock only moves forward
            uint64_t ready = now + (in_order ? 0 : rnd() % 1500);  // later hops of a tree: ahead
            if (in_order && ready < last_ready) {
                ready = last_ready;
            }
            last_ready = ready;
            uint32_t length = rnd() % 2 ? 32 : 58;
            uint32_t slot;
            uint64_t start = emu_link_first_gap(&s, now, ready, length, &slot);
            uint64_t expect = first_free(ready, length);
            if (start != expect) {
                printf("trial %d request %llu: gap at %llu, the map says %llu\n", trial,
                       (unsigned long long) requests, (unsigned long long) start, (unsigned long long) expect);
                return 1;
            }
            if (in_order) {
                uint64_t fifo = link_free > ready ? link_free : ready;
                if (start != fifo) {
                    printf("trial %d: in-order request served at %llu, first come first served says %llu\n",
                           trial, (unsigned long long) start, (unsigned long long) fifo);
                    return 1;
                }
            }
            if (rnd() % 8 == 0) {
                continue;  // asked but not booked (the router drops a copy that would wait too long)
            }
            if (!emu_link_book(&s, slot, start, length)) {
                printf("out of memory\n");
                return 1;
            }
            memset(busy + start, 1, length);
            link_free = start + length;
            for (uint32_t i = s.head + 1; i < s.head + s.n; i++) {
                if (s.v[i].start < s.v[i - 1].end) {
                    printf("trial %d: bookings overlap or are out of order\n", trial);
                    return 1;
                }
            }
            requests++;
        }
        emu_link_schedule_free(&s);
    }
    printf("ok %llu\n", (unsigned long long) requests);
    return 0;
}
