/*
 * state_store_internal.h — hooks of the state store for its own tests, not
 * for the engine: they let a test reach failure paths that a healthy
 * RocksDB never takes. Owner thread only, like the store.
 */
#ifndef STATE_STORE_INTERNAL_H
#define STATE_STORE_INTERNAL_H

#include "state_store.h"

/* The next checkpoint begun fails in its write, before anything reaches
 * RocksDB, with SL_ERR_STATE ("injected failure"), as a refused synced
 * write would. One-shot. */
void state_store__fail_next_write(state_store *st);

#endif
