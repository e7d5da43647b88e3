// Pops the emulator's event queue (emu_eq_pop, emu_eq_pop_until) against a plain reference (the earliest
// (time, seq) by linear search) over random pushes, pops and a filter, with
// times near, far, beyond the far wheel and behind the last pop.  Prints
// "ok <events>" or the first mismatch.  Built and run by tests/test_emulator_fast_paths.py.
#include <stdio.h>
#include <stdlib.h>

#include "event_queue.h"

#define MAX_EVENTS 400000

static emu_event_t ref[MAX_EVENTS];
static int n_ref;

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rnd(void) {  // xorshift64
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static int ref_earliest(void) {
    int best = 0;
    for (int i = 1; i < n_ref; i++) {
        if (ref[i].time < ref[best].time || (ref[i].time == ref[best].time && ref[i].seq < ref[best].seq)) {
            best = i;
        }
    }
    return best;
}

static int ref_pop(emu_event_t *out) {
    if (!n_ref) {
        return 0;
    }
    int best = ref_earliest();
    *out = ref[best];
    ref[best] = ref[--n_ref];
    return 1;
}

static int odd_a(const emu_event_t *ev, void *ctx) {
    (void) ctx;
    return ev->a % 2 == 0;
}

int main(void) {
    emu_event_queue_t q;
    if (!emu_eq_init(&q)) {
        puts("init failed");
        return 1;
    }
    uint64_t now = 0, seq = 0, popped = 0;
    for (int round = 0; round < 60000; round++) {
        int pushes = (int) (rnd() % 4);
        for (int k = 0; k < pushes && n_ref < MAX_EVENTS; k++) {
            uint64_t r = rnd() % 100, ahead;
            if (r < 50) {
                ahead = rnd() % 400;                 // a router hop
            } else if (r < 80) {
                ahead = rnd() % (1u << 22);          // a long callback's sends
            } else if (r < 90) {
                ahead = rnd() % 3;                   // same or next cycle: ties
            } else if (r < 97) {
                ahead = (1ull << 25) + rnd() % (1ull << 27);  // beyond the far wheel
            } else {
                ahead = 0;
            }
            uint64_t t = now + ahead;
            if (r >= 97 && now > 5000) {
                t = now - rnd() % 5000;              // behind the last pop
            }
            uint32_t a = (uint32_t) rnd();
            if (!emu_eq_push(&q, t, 1, a, 0, 0, 0)) {
                puts("push failed");
                return 1;
            }
            ref[n_ref++] = (emu_event_t) {t, seq++, 1, a, 0, 0, 0};
        }
        if (round == 30000) {  // drop the odd ones from both
            emu_eq_filter(&q, odd_a, NULL);
            int kept = 0;
            for (int i = 0; i < n_ref; i++) {
                if (odd_a(&ref[i], NULL)) {
                    ref[kept++] = ref[i];
                }
            }
            n_ref = kept;
        }
        int pops = (int) (rnd() % 4);
        if (n_ref && rnd() % 3 == 0) {  // a pop with a time limit that may refuse
            uint64_t until = now + rnd() % 2000;
            emu_event_t got;
            int r = emu_eq_pop_until(&q, until, &got);
            const emu_event_t *want = &ref[ref_earliest()];
            int expect = want->time <= until ? 1 : -1;
            if (r != expect || got.time != want->time || (r == 1 && got.seq != want->seq)) {
                printf("round %d: pop_until %llu gave %d at %llu, want %d at %llu\n", round,
                       (unsigned long long) until, r, (unsigned long long) got.time, expect,
                       (unsigned long long) want->time);
                return 1;
            }
            if (r == 1) {
                emu_event_t dropped;
                ref_pop(&dropped);
                popped++;
                if (got.time > now) {
                    now = got.time;
                }
            }
        }
        for (int k = 0; k < pops; k++) {
            emu_event_t got, want;
            const emu_event_t *peeked = emu_eq_peek(&q);
            int has = emu_eq_pop(&q, &got);
            int ref_has = ref_pop(&want);
            if (has != ref_has || (peeked != NULL) != has) {
                printf("round %d: queue %s, reference %s\n", round, has ? "had one" : "empty",
                       ref_has ? "had one" : "empty");
                return 1;
            }
            if (!has) {
                break;
            }
            if (got.time != want.time || got.seq != want.seq || got.a != want.a) {
                printf("round %d pop %llu: got (%llu, %llu), want (%llu, %llu)\n", round,
                       (unsigned long long) popped, (unsigned long long) got.time,
                       (unsigned long long) got.seq, (unsigned long long) want.time,
                       (unsigned long long) want.seq);
                return 1;
            }
            popped++;
            if (got.time > now) {
                now = got.time;
            }
        }
    }
    emu_event_t got, want;  // drain
    while (ref_pop(&want)) {
        if (!emu_eq_pop(&q, &got) || got.time != want.time || got.seq != want.seq) {
            printf("drain: got (%llu, %llu), want (%llu, %llu)\n", (unsigned long long) got.time,
                   (unsigned long long) got.seq, (unsigned long long) want.time, (unsigned long long) want.seq);
            return 1;
        }
        popped++;
    }
    if (emu_eq_pop(&q, &got) || q.n) {
        puts("queue not empty after the reference");
        return 1;
    }
    printf("ok %llu\n", (unsigned long long) popped);
    emu_eq_free(&q);
    return 0;
}
