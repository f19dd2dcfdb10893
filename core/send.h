/* core/send.h - sends (core/send.c): what the runtime does to a message on
 * its way to a mailbox, for the layers that deliver later. */
#ifndef TR_CORE_SEND_H
#define TR_CORE_SEND_H

#include "troupe/actor.h"
#include "troupe/msg.h"

/* What tr_send_msg does to a user message it sends to `to`: unless it
 * holds a token, it becomes a tell from the calling actor (or from no one
 * outside an actor). For sends that deliver later (io/ timers). */
void tr__send_stamp(tr_ref *to, tr_msg *msg);

/* A tell from a foreign thread into a counted mailbox that already holds
 * this many messages carries a prefetch hint (TR__MSG_AHEAD, core/msg.h;
 * why, in core/send.c). */
#define TR__SEND_AHEAD_DEPTH 256u

#endif
