// A hierarchical timing wheel with a heap beside it (event_queue.h says why).
//
// Why events come out in exactly (time, seq) order:
//   - A near bucket holds one time.  Its events arrive either pushed directly
//     (only while that time is below `limit`) or moved down from the far wheel
//     (when `limit` passes that time's grain).  Every far push for that time
//     came before the move, every direct push after it, seq grows with every
//     push, and a move keeps the far bucket's order: so the bucket is in seq
//     order.  A far bucket is in seq order because it is only appended to.
//   - Every far event is at or after `limit`, every near event before it, so
//     the near wheel's head is the wheels' earliest event; when the near wheel
//     is empty, the far wheel's first grain moves down before anything is
//     taken (unless the heap's top is earlier than that grain).
//   - Nothing moves out of the heap: a pop compares its top with the near head.
//   - A bucket never mixes times a whole wheel apart: the near wheel spans
//     [cursor, limit) with limit <= cursor + EMU_EQ_NEAR, the far wheel
//     [limit, limit + its span), and cursor and limit only grow.
#include "event_queue.h"

#include <stdlib.h>

#define FAR_SPAN ((uint64_t) EMU_EQ_GRAIN * EMU_EQ_FAR_BUCKETS)

static int earlier(const emu_event_t *a, const emu_event_t *b) {
    return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

// --- FIFO buckets ---------------------------------------------------------------------------

static int wheel_init(emu_eq_wheel_t *w, uint32_t n_buckets) {
    w->n_buckets = n_buckets;
    w->first = malloc(n_buckets * sizeof(*w->first));
    w->last = malloc(n_buckets * sizeof(*w->last));
    w->occupied = calloc(n_buckets / 64, sizeof(*w->occupied));
    w->occupied_words = calloc(n_buckets / 4096, sizeof(*w->occupied_words));
    w->n = 0;
    if (!w->first || !w->last || !w->occupied || !w->occupied_words) {
        return 0;
    }
    for (uint32_t b = 0; b < n_buckets; b++) {
        w->first[b] = w->last[b] = EMU_EQ_NONE;
    }
    return 1;
}

static void wheel_free(emu_eq_wheel_t *w) {
    free(w->first);
    free(w->last);
    free(w->occupied);
    free(w->occupied_words);
}

static void mark(emu_eq_wheel_t *w, uint32_t b) {
    w->occupied[b / 64] |= 1ull << (b % 64);
    w->occupied_words[b / 4096] |= 1ull << (b / 64 % 64);
}

static void unmark(emu_eq_wheel_t *w, uint32_t b) {
    w->occupied[b / 64] &= ~(1ull << (b % 64));
    if (!w->occupied[b / 64]) {
        w->occupied_words[b / 4096] &= ~(1ull << (b / 64 % 64));
    }
}

static void wheel_append(emu_eq_node_t *nodes, emu_eq_wheel_t *w, uint32_t b, uint32_t node) {
    nodes[node].next = EMU_EQ_NONE;
    if (w->last[b] == EMU_EQ_NONE) {
        w->first[b] = node;
        mark(w, b);
    } else {
        nodes[w->last[b]].next = node;
    }
    w->last[b] = node;
    w->n++;
}

// The first non-zero word of `occupied` at or after word `at`, wrapping round.
static uint32_t next_word(const emu_eq_wheel_t *w, uint32_t at) {
    uint32_t n_summary = w->n_buckets / 4096;
    uint32_t s = at / 64;
    uint64_t bits = w->occupied_words[s] & (~0ull << (at % 64));
    for (uint32_t k = 0; k <= n_summary; k++) {
        if (bits) {
            return s * 64 + (uint32_t) __builtin_ctzll(bits);
        }
        s = (s + 1) % n_summary;
        bits = w->occupied_words[s];
    }
    return EMU_EQ_NONE;
}

// The first occupied bucket at or after `start`, wrapping round (the wheel must not be empty).
// Buckets below `start` in its own word are reached last: they are a whole wheel later.
static uint32_t wheel_first(const emu_eq_wheel_t *w, uint32_t start) {
    uint64_t bits = w->occupied[start / 64] & (~0ull << (start % 64));
    if (bits) {
        return start / 64 * 64 + (uint32_t) __builtin_ctzll(bits);
    }
    uint32_t word = next_word(w, (start / 64 + 1) % (w->n_buckets / 64));
    return word * 64 + (uint32_t) __builtin_ctzll(w->occupied[word]);
}

// Unlinks bucket b's first node and returns it.
static uint32_t wheel_take_first(emu_eq_node_t *nodes, emu_eq_wheel_t *w, uint32_t b) {
    uint32_t node = w->first[b];
    w->first[b] = nodes[node].next;
    if (w->first[b] == EMU_EQ_NONE) {
        w->last[b] = EMU_EQ_NONE;
        unmark(w, b);
    }
    w->n--;
    return node;
}

// --- the heap -------------------------------------------------------------------------------

static int heap_push(emu_event_queue_t *q, const emu_event_t *ev) {
    if (q->heap_n == q->heap_cap) {
        uint64_t cap = q->heap_cap ? q->heap_cap * 2 : 1024;
        emu_event_t *heap = realloc(q->heap, cap * sizeof(*heap));
        if (!heap) {
            return 0;
        }
        q->heap = heap;
        q->heap_cap = cap;
    }
    uint64_t i = q->heap_n++;
    while (i > 0) {  // sift up
        uint64_t parent = (i - 1) / 4;
        if (!earlier(ev, &q->heap[parent])) {
            break;
        }
        q->heap[i] = q->heap[parent];
        i = parent;
    }
    q->heap[i] = *ev;
    return 1;
}

static void heap_pop(emu_event_queue_t *q, emu_event_t *out) {
    *out = q->heap[0];
    emu_event_t last = q->heap[--q->heap_n];
    uint64_t i = 0;
    for (;;) {  // sift down
        uint64_t first = 4 * i + 1;
        if (first >= q->heap_n) {
            break;
        }
        uint64_t end = first + 4 < q->heap_n ? first + 4 : q->heap_n;
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
    if (q->heap_n) {
        q->heap[i] = last;
    }
}

// --- the queue ------------------------------------------------------------------------------

int emu_eq_init(emu_event_queue_t *q) {
    *q = (emu_event_queue_t) {0};
    q->free_node = EMU_EQ_NONE;
    q->limit = EMU_EQ_NEAR;
    if (!wheel_init(&q->near, EMU_EQ_NEAR) || !wheel_init(&q->far, EMU_EQ_FAR_BUCKETS)) {
        emu_eq_free(q);
        return 0;
    }
    return 1;
}

void emu_eq_free(emu_event_queue_t *q) {
    free(q->heap);
    free(q->nodes);
    wheel_free(&q->near);
    wheel_free(&q->far);
    *q = (emu_event_queue_t) {0};
}

static uint32_t new_node(emu_event_queue_t *q) {
    if (q->free_node == EMU_EQ_NONE) {
        uint32_t cap = q->nodes_cap ? q->nodes_cap * 2 : 4096;
        if (cap <= q->nodes_cap) {
            return EMU_EQ_NONE;
        }
        emu_eq_node_t *nodes = realloc(q->nodes, (size_t) cap * sizeof(*nodes));
        if (!nodes) {
            return EMU_EQ_NONE;
        }
        for (uint32_t i = q->nodes_cap; i < cap; i++) {
            nodes[i].next = i + 1 < cap ? i + 1 : EMU_EQ_NONE;
        }
        q->nodes = nodes;
        q->free_node = q->nodes_cap;
        q->nodes_cap = cap;
    }
    uint32_t node = q->free_node;
    q->free_node = q->nodes[node].next;
    return node;
}

int emu_eq_push(emu_event_queue_t *q, uint64_t time, uint32_t kind, uint32_t a, uint32_t b, uint32_t c,
                uint32_t d) {
    emu_event_t ev = {time, q->next_seq++, kind, a, b, c, d};
    emu_eq_wheel_t *w = NULL;
    uint32_t bucket = 0;
    if (time >= q->cursor && time < q->limit) {
        w = &q->near;
        bucket = (uint32_t) (time % EMU_EQ_NEAR);
    } else if (time >= q->limit && time - q->limit < FAR_SPAN) {
        w = &q->far;
        bucket = (uint32_t) (time / EMU_EQ_GRAIN % EMU_EQ_FAR_BUCKETS);
    }
    uint32_t node = w ? new_node(q) : EMU_EQ_NONE;
    if (node == EMU_EQ_NONE) {
        q->heap_pushes++;
        if (!heap_push(q, &ev)) {
            return 0;
        }
    } else {
        q->nodes[node].ev = ev;
        wheel_append(q->nodes, w, bucket, node);
    }
    q->n++;
    return 1;
}

// Moves the far wheel's grains that the near wheel now reaches into it, in order.
static void advance(emu_event_queue_t *q) {
    while (q->limit + EMU_EQ_GRAIN <= q->cursor + EMU_EQ_NEAR) {
        if (!q->far.n) {  // nothing to move: jump
            uint64_t top = (q->cursor + EMU_EQ_NEAR) / EMU_EQ_GRAIN * EMU_EQ_GRAIN;
            if (top > q->limit) {
                q->limit = top;
            }
            return;
        }
        uint32_t fb = (uint32_t) (q->limit / EMU_EQ_GRAIN % EMU_EQ_FAR_BUCKETS);
        while (q->far.first[fb] != EMU_EQ_NONE) {
            uint32_t node = wheel_take_first(q->nodes, &q->far, fb);
            wheel_append(q->nodes, &q->near, (uint32_t) (q->nodes[node].ev.time % EMU_EQ_NEAR), node);
        }
        q->limit += EMU_EQ_GRAIN;
    }
}

// Where the earliest event is: a near bucket, or EMU_EQ_NONE for the heap's top.
static int earliest(emu_event_queue_t *q, uint32_t *bucket) {
    if (q->n == 0) {
        return 0;
    }
    if (!q->near.n && q->far.n) {
        // bring the far wheel's first grain down, unless the heap's top comes before it
        uint32_t at = (uint32_t) (q->limit / EMU_EQ_GRAIN % EMU_EQ_FAR_BUCKETS);
        uint32_t fb = wheel_first(&q->far, at);
        uint64_t start = q->limit + (uint64_t) ((fb - at) % EMU_EQ_FAR_BUCKETS) * EMU_EQ_GRAIN;
        if (!q->heap_n || q->heap[0].time >= start) {
            if (start > q->cursor) {
                q->cursor = start;
            }
            advance(q);
        }
    }
    *bucket = EMU_EQ_NONE;
    if (q->near.n) {
        uint32_t b = wheel_first(&q->near, (uint32_t) (q->cursor % EMU_EQ_NEAR));
        if (!q->heap_n || earlier(&q->nodes[q->near.first[b]].ev, &q->heap[0])) {
            *bucket = b;
        }
    }
    return 1;
}

const emu_event_t *emu_eq_peek(emu_event_queue_t *q) {
    uint32_t b;
    if (!earliest(q, &b)) {
        return NULL;
    }
    return b == EMU_EQ_NONE ? &q->heap[0] : &q->nodes[q->near.first[b]].ev;
}

// Removes the earliest event, found at `b` by earliest(), into *out.
static void take(emu_event_queue_t *q, uint32_t b, emu_event_t *out) {
    if (b == EMU_EQ_NONE) {
        heap_pop(q, out);
    } else {
        uint32_t node = wheel_take_first(q->nodes, &q->near, b);
        *out = q->nodes[node].ev;
        q->nodes[node].next = q->free_node;
        q->free_node = node;
    }
    q->n--;
    if (out->time > q->cursor) {
        q->cursor = out->time;
        advance(q);
    }
}

int emu_eq_pop(emu_event_queue_t *q, emu_event_t *out) {
    uint32_t b;
    if (!earliest(q, &b)) {
        return 0;
    }
    take(q, b, out);
    return 1;
}

int emu_eq_pop_until(emu_event_queue_t *q, uint64_t until, emu_event_t *out) {
    uint32_t b;
    if (!earliest(q, &b)) {
        return 0;
    }
    uint64_t t = b == EMU_EQ_NONE ? q->heap[0].time : q->nodes[q->near.first[b]].ev.time;
    if (t > until) {
        out->time = t;
        return -1;
    }
    take(q, b, out);
    return 1;
}

// Unlinks the nodes `keep` refuses from every bucket of w, keeping each bucket's order.
static void wheel_filter(emu_event_queue_t *q, emu_eq_wheel_t *w, int (*keep)(const emu_event_t *, void *),
                         void *ctx) {
    for (uint32_t b = 0; b < w->n_buckets; b++) {
        uint32_t prev = EMU_EQ_NONE;
        for (uint32_t node = w->first[b]; node != EMU_EQ_NONE;) {
            uint32_t next = q->nodes[node].next;
            if (keep(&q->nodes[node].ev, ctx)) {
                prev = node;
            } else {
                if (prev == EMU_EQ_NONE) {
                    w->first[b] = next;
                } else {
                    q->nodes[prev].next = next;
                }
                if (w->last[b] == node) {
                    w->last[b] = prev;
                }
                q->nodes[node].next = q->free_node;
                q->free_node = node;
                w->n--;
                q->n--;
            }
            node = next;
        }
        if (w->first[b] == EMU_EQ_NONE) {
            unmark(w, b);
        }
    }
}

void emu_eq_filter(emu_event_queue_t *q, int (*keep)(const emu_event_t *, void *), void *ctx) {
    wheel_filter(q, &q->near, keep, ctx);
    wheel_filter(q, &q->far, keep, ctx);
    // the heap, rebuilt from what it keeps (each event keeps its seq, so ties keep their order)
    uint64_t n = q->heap_n;
    emu_event_t *old = q->heap;
    q->heap = NULL;
    q->heap_n = q->heap_cap = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (!keep(&old[i], ctx) || !heap_push(q, &old[i])) {
            q->n--;
        }
    }
    free(old);
}
