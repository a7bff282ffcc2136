/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * pk_evq.h: a ring of events guarded by a mutex, with two counting semaphores (free slots, queued
 * events) so that posters and the receiver block without polling. Written once over pk_os.h, so the
 * same code runs on FreeRTOS and in the Linux unit tests.
 */
#include <stdlib.h>
#include <string.h>

#include "pk_evq.h"
#include "pk_os.h"

struct pk_evq {
    pk_mutex_t *lock;
    pk_sem_t *slots;
    pk_sem_t *items;
    pk_event_t *ring;
    uint32_t capacity;
    uint32_t head;
    uint32_t count;
};

pk_evq_t *pk_evq_create(uint32_t capacity)
{
    if (capacity == 0) {
        return NULL;
    }
    pk_evq_t *q = calloc(1, sizeof(*q));
    if (q == NULL) {
        return NULL;
    }
    q->ring = calloc(capacity, sizeof(pk_event_t));
    q->lock = pk_mutex_create();
    q->slots = pk_sem_create(capacity, capacity);
    q->items = pk_sem_create(0, capacity);
    q->capacity = capacity;
    if (q->ring == NULL || q->lock == NULL || q->slots == NULL || q->items == NULL) {
        pk_evq_destroy(q);
        return NULL;
    }
    return q;
}

void pk_evq_destroy(pk_evq_t *q)
{
    if (q == NULL) {
        return;
    }
    if (q->ring != NULL) {
        for (uint32_t i = 0; i < q->count; i++) {
            pk_event_release(&q->ring[(q->head + i) % q->capacity]);
        }
    }
    free(q->ring);
    pk_mutex_destroy(q->lock);
    pk_sem_destroy(q->slots);
    pk_sem_destroy(q->items);
    free(q);
}

bool pk_evq_post(pk_evq_t *q, const pk_event_t *ev, int64_t timeout_ms)
{
    if (!pk_sem_take(q->slots, timeout_ms)) {
        return false;
    }
    pk_mutex_lock(q->lock);
    q->ring[(q->head + q->count) % q->capacity] = *ev;
    q->count++;
    pk_mutex_unlock(q->lock);
    pk_sem_give(q->items);
    return true;
}

bool pk_evq_wait(pk_evq_t *q, pk_event_t *out, int64_t timeout_ms)
{
    if (!pk_sem_take(q->items, timeout_ms)) {
        return false;
    }
    pk_mutex_lock(q->lock);
    *out = q->ring[q->head];
    memset(&q->ring[q->head], 0, sizeof(pk_event_t));
    q->head = (q->head + 1) % q->capacity;
    q->count--;
    pk_mutex_unlock(q->lock);
    pk_sem_give(q->slots);
    return true;
}

uint32_t pk_evq_count(pk_evq_t *q)
{
    pk_mutex_lock(q->lock);
    uint32_t n = q->count;
    pk_mutex_unlock(q->lock);
    return n;
}

void pk_event_release(pk_event_t *ev)
{
    free(ev->data);
    ev->data = NULL;
    ev->len = 0;
}
