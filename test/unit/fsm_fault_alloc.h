/*
 * Force-included (-include) into consensus/fsm*.c when test/unit's fsm_fault
 * compiles them: their malloc, calloc and realloc go through hooks that can
 * be told to fail the n-th call (fsm_fault.c). free stays free: the hooks
 * allocate with the real functions.
 */
#ifndef BS_TEST_FSM_FAULT_ALLOC_H
#define BS_TEST_FSM_FAULT_ALLOC_H

#include <stddef.h>
#include <stdlib.h>

void *fault_malloc(size_t size);
void *fault_calloc(size_t n, size_t size);
void *fault_realloc(void *p, size_t size);

#define malloc(size) fault_malloc(size)
#define calloc(n, size) fault_calloc((n), (size))
#define realloc(p, size) fault_realloc((p), (size))

#endif
