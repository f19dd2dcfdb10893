/* examples/pingpong.c - two actors bounce a counter back and forth.
 *
 * Shows actor-to-actor sends with handles kept in actor state, a one-word
 * payload (tr_send_word), and how main learns the result: the last actor
 * answers an ask that main made at the start.
 *
 *   usage: pingpong [round_trips]   (default 1,000,000) */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <troupe.h>

enum { MSG_START = 1, MSG_PING = 2, MSG_PONG = 3 };

typedef struct player {
    tr_ref *peer;  /* retained */
    tr_msg *start; /* the ask to answer when done (kept) */
    uint64_t rounds;
} player;

static int player_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    player *p = state;
    switch (msg->type) {
    case MSG_START: /* the peer's handle travels in ptr, the round count in word */
        p->peer = tr_msg_take_ptr(msg);
        p->rounds = msg->word;
        p->start = msg;
        tr_msg_keep(ctx, msg);
        /* Only the pinger (rounds > 0) serves; a receive error would crash. */
        return p->rounds > 0 ? tr_send_word(p->peer, MSG_PING, 1) : 0;
    case MSG_PING: /* the ponger answers every ping */
        return tr_send_word(p->peer, MSG_PONG, msg->word);
    case MSG_PONG:
        if (msg->word == p->rounds) {
            tr_reply_word(p->start, MSG_PONG, msg->word);
            tr_msg_free(p->start);
            p->start = NULL;
            return 0;
        }
        return tr_send_word(p->peer, MSG_PING, msg->word + 1);
    }
    return 0;
}

static void player_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    (void)why;
    player *p = state;
    if (p->peer != NULL)
        tr_ref_release(p->peer);
    if (p->start != NULL)
        tr_msg_free(p->start);
}

static void release_ref(void *ref) {
    tr_ref_release(ref);
}

int main(int argc, char **argv) {
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    tr_runtime *rt;
    if (tr_runtime_new(&rt, NULL) != 0)
        return 1;
    static const tr_behavior beh = {.receive = player_receive, .terminate = player_terminate};
    tr_spawn_opts opts = {.state_size = sizeof(player)};
    tr_ref *ping, *pong;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (tr_spawn(rt, &beh, &opts, &ping) != 0 || tr_spawn(rt, &beh, &opts, &pong) != 0)
        return 1;
    /* Each player learns its peer from a START message (an ask, so main can
     * wait for the last pong). */
    tr_ref_retain(ping);
    tr_msg *m;
    tr_msg_new(&m, MSG_START, 0); /* pong: peer = ping, rounds unused */
    m->ptr = ping;
    m->ptr_free = release_ref;
    m->word = 0;
    tr_future *unused;
    if (tr_ask_msg(pong, m, &unused) != 0)
        return 1;
    tr_ref_retain(pong);
    tr_msg_new(&m, MSG_START, 0);
    m->ptr = pong;
    m->ptr_free = release_ref;
    m->word = n;
    tr_future *done;
    if (tr_ask_msg(ping, m, &done) != 0)
        return 1;
    tr_msg *reply;
    int rc = tr_future_wait(done, -1, &reply);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (rc == 0) {
        printf("%llu round trips in %.3f s: %.2f M round trips/s\n",
               (unsigned long long)reply->word, s, (double)reply->word / s / 1e6);
        tr_msg_free(reply);
    } else {
        fprintf(stderr, "pingpong: %s\n", tr_strerror(rc));
    }
    tr_future_release(done);
    tr_future_release(unused);
    tr_ref_release(ping);
    tr_ref_release(pong);
    tr_runtime_free(rt);
    return rc == 0 ? 0 : 1;
}
