// A link's bookings as sorted disjoint intervals (link_schedule.h says why).
#include "link_schedule.h"

#include <stdlib.h>
#include <string.h>

uint64_t emu_link_first_gap(emu_link_schedule_t *s, uint64_t now, uint64_t ready, uint32_t length,
                            uint32_t *slot) {
    while (s->n && s->v[s->head].end <= now) {
        s->head++;
        s->n--;
    }
    if (!s->n) {
        s->head = 0;
    }
    uint32_t last = s->head + s->n;
    if (!s->n || s->v[last - 1].end <= ready) {  // the usual case: after every booking
        *slot = last;
        return ready;
    }
    uint64_t start = ready;
    uint32_t i = s->head;
    for (; i < last; i++) {
        if (s->v[i].end <= start) {
            continue;  // over before this copy is ready
        }
        if (s->v[i].start >= start + length) {
            break;  // the gap before booking i fits
        }
        start = s->v[i].end;  // wait for it
    }
    *slot = i;
    return start;
}

int emu_link_book(emu_link_schedule_t *s, uint32_t slot, uint64_t start, uint32_t length) {
    if (s->head + s->n == s->cap) {
        if (s->head) {  // room at the front: slide the bookings down
            memmove(s->v, s->v + s->head, s->n * sizeof(*s->v));
            slot -= s->head;
            s->head = 0;
        } else {
            uint32_t cap = s->cap ? s->cap * 2 : 16;
            emu_busy_t *v = realloc(s->v, cap * sizeof(*v));
            if (!v) {
                return 0;
            }
            s->v = v;
            s->cap = cap;
        }
    }
    uint32_t last = s->head + s->n;
    if (slot < last) {
        memmove(s->v + slot + 1, s->v + slot, (last - slot) * sizeof(*s->v));
    }
    s->v[slot] = (emu_busy_t) {start, start + length};
    s->n++;
    return 1;
}

void emu_link_schedule_free(emu_link_schedule_t *s) {
    free(s->v);
    *s = (emu_link_schedule_t) {0};
}
