// 4-ary min-heap of events keyed by (time, seq): half the depth of a binary heap, and a
// node's children share cache lines.  (time, seq) is a total order, so the order events
// come out in does not depend on the heap's shape.
#include "event_queue.h"

#include <stdlib.h>

static int earlier(const emu_event_t *a, const emu_event_t *b) {
    return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

void emu_eq_init(emu_event_queue_t *q) {
    q->heap = NULL;
    q->n = q->cap = q->next_seq = 0;
}

void emu_eq_free(emu_event_queue_t *q) {
    free(q->heap);
    emu_eq_init(q);
}

int emu_eq_push(emu_event_queue_t *q, uint64_t time, uint32_t kind, uint32_t a, uint32_t b, uint32_t c,
                uint32_t d) {
    if (q->n == q->cap) {
        uint64_t cap = q->cap ? q->cap * 2 : 1024;
        emu_event_t *heap = realloc(q->heap, cap * sizeof(*heap));
        if (!heap) {
            return 0;
        }
        q->heap = heap;
        q->cap = cap;
    }
    emu_event_t ev = {time, q->next_seq++, kind, a, b, c, d};
    uint64_t i = q->n++;
    while (i > 0) {  // sift up
        uint64_t parent = (i - 1) / 4;
        if (!earlier(&ev, &q->heap[parent])) {
            break;
        }
        q->heap[i] = q->heap[parent];
        i = parent;
    }
    q->heap[i] = ev;
    return 1;
}

int emu_eq_pop(emu_event_queue_t *q, emu_event_t *out) {
    if (q->n == 0) {
        return 0;
    }
    *out = q->heap[0];
    emu_event_t last = q->heap[--q->n];
    uint64_t i = 0;
    for (;;) {  // sift down
        uint64_t first = 4 * i + 1;
        if (first >= q->n) {
            break;
        }
        uint64_t end = first + 4 < q->n ? first + 4 : q->n;
        uint64_t child = first;
        for (uint64_t c = first + 1; c < end; c++) {
            if (earlier(&q->heap[c], &q->heap[child])) {
                child = c;
            }
        }
        if (!earlier(&q->heap[child], &last)) {
            break;
        }
        q->heap[i] = q->heap[child];
        i = child;
    }
    if (q->n) {
        q->heap[i] = last;
    }
    return 1;
}

void emu_eq_filter(emu_event_queue_t *q, int (*keep)(const emu_event_t *, void *), void *ctx) {
    uint64_t n = q->n;
    emu_event_t *old = q->heap;
    q->heap = NULL;
    q->n = q->cap = 0;
    uint64_t seq = q->next_seq;
    for (uint64_t i = 0; i < n; i++) {
        if (keep(&old[i], ctx)) {
            // re-inserted with its own sequence number, so the order among equal times is kept
            q->next_seq = old[i].seq;
            emu_eq_push(q, old[i].time, old[i].kind, old[i].a, old[i].b, old[i].c, old[i].d);
        }
    }
    q->next_seq = seq;
    free(old);
}
