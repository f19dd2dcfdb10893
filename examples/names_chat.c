/* examples/names_chat.c - a chat room found by name, its members in a group,
 * a logger on topics.
 *
 * A supervisor runs the room, registered as "room:lobby" through its child
 * spec (opts.register_as), so every restart gets the name back without code
 * here. Members join the group "lobby"; the room relays each line to the
 * group with one broadcast (the line is copied once, not per member) and
 * publishes it on "chat.lobby.msg", where a logger subscribed to "chat.>"
 * counts it. The main thread (a foreign thread) sends lines by name, crashes
 * the room once halfway and waits for its restart. Exit status 0 when every
 * line sent to a live room reached every member and the logger. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <troupe.h>

enum { LINE = 1, CRASH = 2 };

#define MEMBERS 4
#define LINES 100

static atomic_uint_fast64_t heard, logged;

static int room_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    if (msg->type == CRASH)
        return -1; /* a bug: the supervisor restarts the room */
    const void *line = tr_msg_data(msg);
    tr_group_broadcast(tr_ctx_runtime(ctx), "lobby", LINE, line, msg->size);
    tr_publish(tr_ctx_runtime(ctx), "chat.lobby.msg", LINE, line, msg->size);
    return 0;
}

static int member_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    const char *line = tr_msg_payload(msg, 1); /* shared with the other members */
    if (line != NULL && msg->size > 0)
        atomic_fetch_add(&heard, 1);
    return 0;
}

static int logger_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    (void)msg;
    atomic_fetch_add(&logged, 1);
    return 0;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Send one line by name, retrying while the room is being restarted. */
static int say(tr_runtime *rt, const char *text) {
    for (int tries = 0; tries < 1000; tries++) {
        int rc = tr_send_named(rt, "room:lobby", LINE, text, strlen(text) + 1);
        if (rc != TR_ENOTFOUND)
            return rc;
        sleep_ms(1);
    }
    return TR_ENOTFOUND;
}

static uint64_t room_id(tr_runtime *rt) {
    tr_ref *r;
    if (tr_whereis(rt, "room:lobby", &r) != 0)
        return 0;
    uint64_t id = tr_ref_id(r);
    tr_ref_release(r);
    return id;
}

/* Crash the room and wait until its next incarnation has the name. */
static void crash_and_wait(tr_runtime *rt) {
    uint64_t old = room_id(rt);
    tr_send_word_named(rt, "room:lobby", CRASH, 0);
    for (int i = 0; i < 5000; i++) {
        uint64_t now = room_id(rt);
        if (now != 0 && now != old) {
            printf("room restarted: incarnation %llu -> %llu, same name\n", (unsigned long long)old,
                   (unsigned long long)now);
            return;
        }
        sleep_ms(1);
    }
}

int main(void) {
    static const tr_behavior room_beh = {NULL, room_receive, NULL};
    static const tr_behavior member_beh = {NULL, member_receive, NULL};
    static const tr_behavior logger_beh = {NULL, logger_receive, NULL};
    tr_runtime *rt;
    if (tr_runtime_new(&rt, NULL) != 0)
        return 1;

    tr_child_spec room = {.id = "lobby",
                          .behavior = &room_beh,
                          .opts = {.register_as = "room:lobby"},
                          .restart = TR_CHILD_PERMANENT};
    tr_sup_config cfg;
    tr_sup_config_init(&cfg);
    cfg.children = &room;
    cfg.nchildren = 1;
    tr_ref *sup;
    if (tr_sup_start(rt, &cfg, &sup) != 0)
        return 1;

    tr_ref *members[MEMBERS], *logger;
    for (int i = 0; i < MEMBERS; i++) {
        tr_spawn(rt, &member_beh, NULL, &members[i]);
        tr_group_join(members[i], "lobby");
    }
    tr_spawn(rt, &logger_beh, NULL, &logger);
    tr_subscribe(logger, "chat.>");

    char text[96];
    int sent = 0;
    for (int i = 0; i < LINES; i++) {
        if (i == LINES / 2) /* crash the room; the supervisor brings it back */
            crash_and_wait(rt);
        snprintf(text, sizeof(text), "line %d: a chat line long enough to be shared", i);
        if (say(rt, text) == 0)
            sent++;
    }
    for (int i = 0; i < 2000 && (atomic_load(&heard) < (uint64_t)sent * MEMBERS ||
                                 atomic_load(&logged) < (uint64_t)sent);
         i++)
        sleep_ms(1);
    printf("sent %d lines; members heard %llu (want %d), logger %llu (want %d)\n", sent,
           (unsigned long long)atomic_load(&heard), sent * MEMBERS,
           (unsigned long long)atomic_load(&logged), sent);
    int ok =
        atomic_load(&heard) == (uint64_t)sent * MEMBERS && atomic_load(&logged) == (uint64_t)sent;

    tr_sup_stop(sup);
    tr_ref_release(sup);
    tr_ref_release_all(members, MEMBERS);
    tr_ref_release(logger);
    tr_runtime_free(rt);
    return ok ? 0 : 1;
}
