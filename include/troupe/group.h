/* troupe/group.h - process groups (Erlang's pg) and topic publish/subscribe.
 *
 * Groups: a group is a named set of actors, per runtime. Actors join and
 * leave (any thread may make them), a broadcast reaches every member once.
 * A group exists while it has members; broadcasting to an unknown group
 * reaches nobody and returns 0.
 *
 * Topics: topics are dot-separated strings ("chat.room1.msg"). An actor
 * subscribes with a pattern, whose segments match a topic's segment by
 * segment: "*" matches exactly one segment, and a final ">" matches one or
 * more trailing segments (the NATS rules): "chat.*.msg" matches
 * "chat.room1.msg", "chat.>" matches "chat.room1" and "chat.room1.msg" but not
 * "chat". A publish reaches every actor with a matching pattern once, even
 * if several of its patterns match.
 *
 * An actor that ends leaves all its groups and drops all its subscriptions
 * by itself, before its monitors get TR_MSG_DOWN. An actor that never joins
 * or subscribes pays nothing.
 *
 * Delivery: every member gets its own message (msg->type = type). A small
 * payload (one that fits in the message's own block: 56 bytes today) is
 * copied into each message, a copy there being cheaper than sharing; above
 * that it is
 * copied once into a reference-counted block that every member's message
 * points at: tr_msg_data(msg) returns that shared payload, which is
 * read-only, and the block is freed when the last of these messages is
 * destroyed (handled, dead-lettered or refused). Such a message has no
 * pointer to take: tr_msg_take_ptr returns NULL on it. The _word forms send
 * msg->word = word and no payload. Made inside an actor's callback, every
 * message carries that actor as its sender (tr_sender, tr_reply), as a
 * tr_send would.
 *
 * A member whose mailbox is full (bounded), that is ending, or whose message
 * cannot be allocated does not get the message and is not counted; the
 * calls do not wait for room.
 *
 * Locking: one read-write lock per runtime; joins, leaves and actor ends
 * take it to write, broadcasts and publishes to read, and push every
 * message while holding it (no handle is made per member). */
#ifndef TROUPE_GROUP_H
#define TROUPE_GROUP_H

#include "troupe/common.h"

#include <stddef.h>
#include <stdint.h>

#include "troupe/actor.h"
#include "troupe/registry.h"
#include "troupe/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest topic or pattern, in bytes, without the NUL. Group names follow
 * TR_NAME_MAX (troupe/registry.h). */
#define TR_TOPIC_MAX 255

/* --- groups --------------------------------------------------------------- */
/* Add the actor behind member to the group (name copied, 1..TR_NAME_MAX
 * bytes), which is made if needed. An actor may be in any number of groups;
 * a group may hold any number of actors. The caller keeps its handle.
 * TR_EEXIST if it is already a member, TR_EDEAD if it has ended (or is
 * ending), TR_EINVAL, TR_ENOMEM. Any thread. */
TR_EXTERN int tr_group_join(tr_ref *member, const char *group);

/* Remove the actor from the group. TR_ENOTFOUND if it is not a member,
 * TR_EINVAL. Messages already broadcast to it stay in its mailbox. */
TR_EXTERN int tr_group_leave(tr_ref *member, const char *group);

/* The live members of the group: up to cap new handles, owned by the caller
 * (release them, e.g. with tr_ref_release_all), into out[0..cap); *n is set
 * to how many were written. Returns the number of live members (> *n when
 * cap was too small), 0 for an unknown group, or TR_EINVAL (rt, group or n
 * NULL, out NULL with cap > 0). */
TR_EXTERN int tr_group_members(tr_runtime *rt, const char *group, tr_ref **out, size_t cap,
                               size_t *n);

/* Release n handles (NULL entries are skipped). TR_EINVAL if refs is NULL
 * and n > 0. */
TR_EXTERN int tr_ref_release_all(tr_ref **refs, size_t n);

/* Send a copy of the payload (size bytes of data; see "Delivery" above) to
 * every member. Returns the number of members that accepted it (0 for an
 * empty or unknown group), or an error: TR_EINVAL (NULL rt or group, bad
 * name, reserved type, data NULL with size > 0), TR_E2BIG (size >
 * TR_MSG_MAX_SIZE), TR_ENOMEM (the shared block), TR_ECLOSED (the runtime
 * is closed and the caller is not one of its actors). The caller keeps
 * data; nothing refers to it after the call. Any thread. */
TR_EXTERN int tr_group_broadcast(tr_runtime *rt, const char *group, uint32_t type, const void *data,
                                 size_t size);
/* The same with a one-word payload (msg->word). */
TR_EXTERN int tr_group_broadcast_word(tr_runtime *rt, const char *group, uint32_t type,
                                      uint64_t word);
/* From inside an actor: broadcast to every member except the calling actor
 * (a chat member relaying a line to the others). The calling actor need
 * not be a member. Same returns as tr_group_broadcast, and TR_EINVAL when
 * called anywhere but inside one of that actor's callbacks (a ctx kept and
 * used from another thread, or after the callback returned). */
TR_EXTERN int tr_group_broadcast_others(tr_ctx *ctx, const char *group, uint32_t type,
                                        const void *data, size_t size);

/* --- topics --------------------------------------------------------------- */
/* Subscribe the actor to the topics matching pattern (copied; segments
 * separated by '.', none empty, '*' and '>' wildcards only as whole
 * segments, '>' only as the last one; inside a longer segment they are
 * plain characters: "ab*" matches only the topic "ab*"; 1..TR_TOPIC_MAX
 * bytes). The caller keeps its
 * handle. TR_EEXIST if it already has this exact pattern, TR_EDEAD,
 * TR_EINVAL, TR_ENOMEM. Any thread. */
TR_EXTERN int tr_subscribe(tr_ref *sub, const char *pattern);
/* Drop the subscription with exactly this pattern. TR_ENOTFOUND, TR_EINVAL. */
TR_EXTERN int tr_unsubscribe(tr_ref *sub, const char *pattern);

/* Send the payload to every actor subscribed to a pattern that matches
 * topic (no empty segment, no "*" or ">" segment: TR_EINVAL), once per
 * actor. Returns the number of actors that accepted it, or an error as
 * tr_group_broadcast. */
TR_EXTERN int tr_publish(tr_runtime *rt, const char *topic, uint32_t type, const void *data,
                         size_t size);
TR_EXTERN int tr_publish_word(tr_runtime *rt, const char *topic, uint32_t type, uint64_t word);

/* Whether pattern matches topic by the rules above (a predicate: false if
 * either is NULL or malformed; tr_subscribe reports a malformed pattern as
 * TR_EINVAL). Pure; any thread. */
TR_EXTERN bool tr_topic_matches(const char *pattern, const char *topic);

#ifdef __cplusplus
}
#endif
#endif
