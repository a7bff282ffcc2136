/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * brain_slot.h: the order and size rules of OP_BRAIN_WRITE, over any backend.
 */
#include <stdio.h>

#include "kubelet_abi.h"
#include "brain_slot.h"

void brain_slot_init(brain_slot_t *slot, const brain_backend_t *backend)
{
    slot->backend = backend;
    slot->written = 0;
    slot->started = false;
}

int32_t brain_slot_write(brain_slot_t *slot, int64_t offset, const uint8_t *bytes, size_t len, char *why,
                         size_t why_size)
{
    if (offset < 0) {
        return -KUBELET_ERR_HOST_CALL_INVALID;
    }
    /* Offset 0 always starts again; any other must continue the image begun, exactly where it stands. */
    if (offset != 0 && (!slot->started || (uint64_t)offset != (uint64_t)slot->written)) {
        return -KUBELET_ERR_HOST_CALL_INVALID;
    }
    const size_t from = offset == 0 ? 0 : slot->written;
    if (len > slot->backend->size || from > slot->backend->size - len) {
        return -KUBELET_ERR_HOST_CALL_INVALID;
    }
    if (offset == 0) {
        slot->written = 0;
        slot->started = false;
        if (slot->backend->begin(slot->backend->ctx, why, why_size) != 0) {
            return -KUBELET_ERR_HOST_CALL_FAILED;
        }
    }
    if (len > 0 && slot->backend->write(slot->backend->ctx, from, bytes, len, why, why_size) != 0) {
        brain_slot_reset(slot);
        return -KUBELET_ERR_HOST_CALL_FAILED;
    }
    slot->started = true;
    slot->written = from + len;
    return 0;
}

int brain_slot_read(const brain_slot_t *slot, size_t offset, uint8_t *out, size_t len, char *err, size_t err_size)
{
    if (offset > slot->written || len > slot->written - offset) {
        snprintf(err, err_size, "bytes %zu..%zu are past the %zu stored", offset, offset + len, slot->written);
        return -1;
    }
    return len == 0 ? 0 : slot->backend->read(slot->backend->ctx, offset, out, len, err, err_size);
}

void brain_slot_reset(brain_slot_t *slot)
{
    slot->written = 0;
    slot->started = false;
}
