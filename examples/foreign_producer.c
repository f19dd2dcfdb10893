/* examples/foreign_producer.c - threads the runtime never saw feed an actor.
 *
 * Four plain pthreads (think: a network library's callback threads) send
 * numbered messages to one counting actor through a shared handle. No
 * registration is needed to send. The counter's mailbox is bounded, so the
 * producers use tr_send_wait: when it is full they block until there is room
 * (backpressure) instead of failing. At the end main asks the counter for its
 * totals and checks that nothing was lost and each sender's order held.
 *
 *   usage: foreign_producer [messages_per_thread]   (default 250,000) */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <troupe.h>

#define THREADS 4

enum { MSG_ITEM = 1, MSG_TOTAL = 2 };

typedef struct counter {
    uint64_t count;
    uint64_t next[THREADS]; /* the sequence number expected from each sender */
    uint64_t out_of_order;
} counter;

static int counter_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    counter *c = state;
    if (msg->type == MSG_TOTAL) {
        uint64_t totals[2] = {c->count, c->out_of_order};
        return tr_reply(msg, MSG_TOTAL, totals, sizeof(totals));
    }
    unsigned sender = (unsigned)(msg->word >> 48);
    uint64_t seq = msg->word & 0xFFFFFFFFFFFFull;
    if (sender >= THREADS || seq != c->next[sender])
        c->out_of_order++;
    else
        c->next[sender]++;
    c->count++;
    return 0;
}

typedef struct producer {
    pthread_t thread;
    tr_ref *target;
    unsigned id;
    uint64_t n;
    int error;
} producer;

static void *produce(void *arg) {
    producer *p = arg;
    for (uint64_t i = 0; i < p->n; i++) {
        tr_msg *m;
        int rc = tr_msg_new(&m, MSG_ITEM, 0);
        if (rc == 0) {
            m->word = ((uint64_t)p->id << 48) | i;
            rc = tr_send_wait(p->target, m, -1); /* waits while the mailbox is full */
            if (rc != 0)
                tr_msg_free(m); /* on error the message is still ours */
        }
        if (rc != 0) {
            p->error = rc;
            break;
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    uint64_t per_thread = argc > 1 ? strtoull(argv[1], NULL, 10) : 250000;
    tr_runtime *rt;
    int rc = tr_runtime_new(&rt, NULL);
    if (rc != 0) {
        fprintf(stderr, "runtime: %s\n", tr_strerror(rc));
        return 1;
    }
    static const tr_behavior beh = {.receive = counter_receive};
    tr_spawn_opts opts = {.state_size = sizeof(counter), .mailbox_capacity = 4096};
    tr_ref *target;
    if ((rc = tr_spawn(rt, &beh, &opts, &target)) != 0) {
        fprintf(stderr, "spawn: %s\n", tr_strerror(rc));
        return 1;
    }
    producer ps[THREADS];
    for (unsigned i = 0; i < THREADS; i++) {
        ps[i] = (producer){.target = target, .id = i, .n = per_thread};
        pthread_create(&ps[i].thread, NULL, produce, &ps[i]);
    }
    int failed = 0;
    for (unsigned i = 0; i < THREADS; i++) {
        pthread_join(ps[i].thread, NULL);
        if (ps[i].error != 0) {
            fprintf(stderr, "producer %u: %s\n", i, tr_strerror(ps[i].error));
            failed = 1;
        }
    }
    tr_future *f;
    tr_msg *reply = NULL;
    if ((rc = tr_ask(target, MSG_TOTAL, NULL, 0, &f)) == 0) {
        rc = tr_future_wait(f, 10000, &reply);
        tr_future_release(f);
    }
    if (rc == 0) {
        const uint64_t *totals = tr_msg_data(reply);
        printf("counted %llu of %llu messages from %d threads, %llu out of order\n",
               (unsigned long long)totals[0], (unsigned long long)(per_thread * THREADS), THREADS,
               (unsigned long long)totals[1]);
        failed |= totals[0] != per_thread * THREADS || totals[1] != 0;
        tr_msg_free(reply);
    } else {
        fprintf(stderr, "ask: %s\n", tr_strerror(rc));
        failed = 1;
    }
    tr_ref_release(target);
    tr_runtime_free(rt);
    return failed;
}
