/* core/pin.h - pinned actors: bound to the main loop or to a thread of their
 * own (tr_spawn_opts.pin). core/pin.c has the design. */
#ifndef TR_CORE_PIN_H
#define TR_CORE_PIN_H

#include <stdint.h>

#include "core/worker.h"

/* For a spawn with opts.pin (TR_PIN_MAIN, TR_PIN_THREAD): the worker the
 * actor will live on (*home). TR_PIN_THREAD makes a private worker and
 * starts its thread, which runs until tr__pin_abandon. 0, TR_EINVAL (an
 * unknown pin; TR_PIN_MAIN without a main loop), TR_ENOMEM, TR_ESYS. Any
 * thread. */
int tr__pin_prepare(tr_runtime *rt, uint32_t pin, tr__worker **home);
/* The actor of home has ended, or its spawn failed: a thread of its own
 * leaves its loop and ends (joined later: the next TR_PIN_THREAD spawn or
 * tr_runtime_join). No-op for NULL and the main loop. Any thread. */
void tr__pin_abandon(tr__worker *home);

#endif
