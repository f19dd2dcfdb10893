/* tests/test_oom.c - allocation failures at the moments that used to go wrong.
 *
 * The test is linked with --wrap=malloc,calloc,realloc,aligned_alloc,free
 * (CMakeLists.txt, for test_oom*), so every allocation troupe makes goes
 * through the __wrap_ functions below. A thread that sets tls_fail makes all
 * of its own allocations fail with ENOMEM; other threads (the workers) are
 * not affected. Blocks of CACHE_BYTES or more calloc'ed by a thread that set
 * tls_track are recorded, and freeing one clears its record: a record left
 * at the end is a leaked message cache. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "support/wrap_alloc.h"
#include "troupe.h"

#define CACHE_BYTES 16384 /* a message cache: 2048 pointers (core/msgcache.c) */
#define TRACK_MAX 16
#define MSGS 10 /* messages the exiting thread allocates and frees */

/* --- the allocator wrappers -------------------------------------------------- */

static __thread int tls_fail;    /* this thread's allocations fail */
static int all_fail;             /* every thread's allocations fail (atomic) */
static __thread int tls_track;   /* record this thread's big callocs */
static void *tracked[TRACK_MAX]; /* under track_mu */
static pthread_mutex_t track_mu = PTHREAD_MUTEX_INITIALIZER;

static int failing(void) {
    if (!tls_fail && !__atomic_load_n(&all_fail, __ATOMIC_SEQ_CST))
        return 0;
    errno = ENOMEM;
    return 1;
}

void *__wrap_malloc(size_t n) {
    return failing() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t k, size_t n) {
    if (failing())
        return NULL;
    void *p = __real_calloc(k, n);
    if (p != NULL && tls_track && k * n >= CACHE_BYTES) {
        pthread_mutex_lock(&track_mu);
        for (int i = 0; i < TRACK_MAX; i++)
            if (tracked[i] == NULL) {
                tracked[i] = p;
                break;
            }
        pthread_mutex_unlock(&track_mu);
    }
    return p;
}

void *__wrap_realloc(void *p, size_t n) {
    return failing() ? NULL : __real_realloc(p, n);
}

void *__wrap_aligned_alloc(size_t a, size_t n) {
    return failing() ? NULL : __real_aligned_alloc(a, n);
}

void __wrap_free(void *p) {
    if (p != NULL) {
        pthread_mutex_lock(&track_mu);
        for (int i = 0; i < TRACK_MAX; i++)
            if (tracked[i] == p)
                tracked[i] = NULL;
        pthread_mutex_unlock(&track_mu);
    }
    __real_free(p);
}

static int tracked_left(void) {
    int n = 0;
    pthread_mutex_lock(&track_mu);
    for (int i = 0; i < TRACK_MAX; i++)
        n += tracked[i] != NULL;
    pthread_mutex_unlock(&track_mu);
    return n;
}

/* --- the message cache of an exiting thread ---------------------------------- */

typedef struct exiter {
    void *blocks[MSGS];
    int made; /* messages made and freed */
} exiter;

/* Makes (so its cache exists, with blocks in it) and frees MSGS messages,
 * then exits with every allocation failing: its cache must still be freed,
 * and its blocks must not be lost. */
static void *exiting_thread(void *arg) {
    exiter *x = arg;
    tls_track = 1;
    tr_msg *m[MSGS];
    for (int i = 0; i < MSGS; i++) {
        if (tr_msg_new(&m[i], 1, 8) != 0)
            return NULL;
        x->blocks[i] = m[i];
    }
    for (int i = 0; i < MSGS; i++)
        tr_msg_free(m[i]);
    x->made = MSGS;
    tls_fail = 1; /* the cache's exit handler runs after this, failing */
    return NULL;
}

typedef struct taker {
    void *first;
} taker;

static void *taking_thread(void *arg) {
    taker *t = arg;
    tr_msg *m;
    if (tr_msg_new(&m, 1, 8) == 0) {
        t->first = m;
        tr_msg_free(m);
    }
    return NULL;
}

/* Must run first in this process: before any thread gave a magazine back, the
 * depot has no spare magazine struct, so the exiting thread must allocate one
 * (and fails to). */
static void thread_exit_out_of_memory_frees_the_cache(void **state) {
    (void)state;
    exiter x = {0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, exiting_thread, &x), 0);
    pthread_join(th, NULL);
    assert_int_equal(x.made, MSGS);
    assert_int_equal(tracked_left(), 0); /* the 16 KB cache was freed */
    /* Its blocks went to the shared loose list: a new thread gets one. */
    taker t = {0};
    assert_int_equal(pthread_create(&th, NULL, taking_thread, &t), 0);
    pthread_join(th, NULL);
    assert_non_null(t.first);
    int found = 0;
    for (int i = 0; i < MSGS; i++)
        found |= t.first == x.blocks[i];
    assert_true(found);
}

/* --- stopping an actor when the kick cannot be allocated --------------------- */

static int idle_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    (void)msg;
    return 0;
}

static const tr_behavior idle_beh = {.receive = idle_receive};

typedef struct stopper {
    tr_ref *ref;
    int retry; /* also ask again with memory back */
    int failed_rc, retry_rc;
} stopper;

/* A new thread (no message cache yet) asks for the stop with every
 * allocation failing, then again with memory back. */
static void *stopping_thread(void *arg) {
    stopper *s = arg;
    tls_fail = 1;
    s->failed_rc = tr_actor_stop(s->ref);
    tls_fail = 0;
    if (s->retry)
        s->retry_rc = tr_actor_stop(s->ref);
    return NULL;
}

static void stop_after_enomem_still_stops(void **state) {
    (void)state;
    tr_runtime *rt = tu_runtime_new(2);
    assert_non_null(rt);
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &idle_beh, NULL, &ref), 0);
    stopper s = {ref, 1, 0, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, stopping_thread, &s), 0);
    pthread_join(th, NULL);
    assert_int_equal(s.failed_rc, TR_ENOMEM);
    assert_int_equal(s.retry_rc, 0);
    /* Before the fix the retry pushed no wake-up: the actor lived on and
     * tr_runtime_free below never returned. */
    assert_true(tu_wait_alive(rt, 0, 5000));
    tr_ref_release(ref);
    assert_int_equal(tr_runtime_free(rt), 0);
}

/* A failed stop changes nothing: the runtime's close still stops the actor. */
static void runtime_free_after_failed_stop_returns(void **state) {
    (void)state;
    tr_runtime *rt = tu_runtime_new(1);
    assert_non_null(rt);
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &idle_beh, NULL, &ref), 0);
    stopper s = {ref, 0, 0, 0}; /* no retry: the runtime's close is one */
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, stopping_thread, &s), 0);
    pthread_join(th, NULL);
    assert_int_equal(s.failed_rc, TR_ENOMEM);
    tr_ref_release(ref);
    assert_int_equal(tr_runtime_free(rt), 0);
}

/* --- the runtime's close when no stop request can be allocated ---------------- */

static void *closing_thread(void *arg) {
    tls_fail = 1;
    (void)tr_runtime_close(arg);
    return NULL;
}

/* Before the fix the close asked the idle actor to stop with a kick it could
 * not allocate, and nothing else ever woke it: the runtime never emptied. */
static void close_out_of_memory_still_stops_every_actor(void **state) {
    (void)state;
    tr_runtime *rt = tu_runtime_new(1);
    assert_non_null(rt);
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &idle_beh, NULL, &ref), 0);
    assert_int_equal(tr_spawn(rt, &idle_beh, NULL, NULL), 0);
    tr_ref_release(ref);
    tu_sleep_ms(20); /* both idle: only the close can wake them */
    pthread_t th;    /* a new thread: no message cache, so the kicks need malloc */
    assert_int_equal(pthread_create(&th, NULL, closing_thread, rt), 0);
    pthread_join(th, NULL);
    assert_true(tu_wait_alive(rt, 0, 10000));
    assert_int_equal(tr_runtime_free(rt), 0);
}

/* --- an actor's request failing with no memory for the notice ---------------- */

#define T_GO 1
#define T_CRASH 2
#define T_AFTER 3
#define TAG 77

#define HOARD_MAX (1 << 17)

static uint64_t notices, notice_status, notice_corr;
static tr_msg *hoard[HOARD_MAX]; /* every block the crasher's worker could get */
static size_t hoard_n;           /* written by the crasher, read after the join */

static int crasher_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    if (msg->type != T_CRASH)
        return 0;
    /* From here every allocation fails, on this worker too, and its message
     * cache is emptied: the crash must still reach the asker as
     * TR_MSG_ASK_FAILED. */
    __atomic_store_n(&all_fail, 1, __ATOMIC_SEQ_CST);
    while (hoard_n < HOARD_MAX && tr_msg_new(&hoard[hoard_n], 1, 0) == 0)
        hoard_n++;
    return -1;
}

static const tr_behavior crasher_beh = {.receive = crasher_receive};

static uint64_t reply_rc;

/* Answers T_CRASH with a reply that cannot be allocated. */
static int replier_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    if (msg->type != T_CRASH)
        return 0;
    __atomic_store_n(&all_fail, 1, __ATOMIC_SEQ_CST);
    while (hoard_n < HOARD_MAX && tr_msg_new(&hoard[hoard_n], 1, 0) == 0)
        hoard_n++;
    tu_store(&reply_rc, (uint64_t)(int64_t)tr_reply_word(msg, T_CRASH, 1));
    return 0;
}

static const tr_behavior replier_beh = {.receive = replier_receive};

static int asker_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    if (msg->type == T_GO) {
        tr_ref *to = msg->ptr;
        (void)tr_request_word(ctx, to, T_CRASH, 0, TAG);
        (void)tr_send_word(to, T_AFTER, 0); /* the request is not the mailbox's last */
        return 0;
    }
    if (msg->type == TR_MSG_ASK_FAILED) {
        tu_store(&notice_status, (uint64_t)(int64_t)tr_result_code(msg));
        tu_store(&notice_corr, msg->corr);
        tu_add(&notices, 1);
    }
    return 0;
}

static const tr_behavior asker_beh = {.receive = asker_receive};

/* The asker requests T_CRASH of a target with `beh`, which runs out of
 * memory; returns whether a TR_MSG_ASK_FAILED came (status and corr in
 * notice_status, notice_corr). */
static int request_out_of_memory(const tr_behavior *beh) {
    tu_store(&notices, 0);
    hoard_n = 0;
    tr_runtime *rt = tu_runtime_new(1);
    assert_non_null(rt);
    tr_ref *asker, *target;
    assert_int_equal(tr_spawn(rt, &asker_beh, NULL, &asker), 0);
    assert_int_equal(tr_spawn(rt, beh, NULL, &target), 0);
    tr_msg *go;
    assert_int_equal(tr_msg_new(&go, T_GO, 0), 0);
    go->ptr = target;
    assert_int_equal(tr_send_msg(asker, go), 0);
    int got = tu_wait_ge(&notices, 1, 10000);
    __atomic_store_n(&all_fail, 0, __ATOMIC_SEQ_CST);
    assert_true(hoard_n < HOARD_MAX); /* the cache ran dry */
    for (size_t i = 0; i < hoard_n; i++)
        tr_msg_free(hoard[i]);
    tr_ref_release(target);
    tr_ref_release(asker);
    assert_int_equal(tr_runtime_free(rt), 0);
    return got;
}

static void ask_failed_notice_out_of_memory_still_arrives(void **state) {
    (void)state;
    /* before the fix: no notice, the asker never learned */
    assert_true(request_out_of_memory(&crasher_beh));
    assert_int_equal((int)(int64_t)tu_load(&notice_status), TR_ECRASHED);
    assert_int_equal(tu_load(&notice_corr), TAG);
}

/* A reply that cannot be allocated reaches an asking actor as TR_ENOMEM,
 * even when no notice can be allocated either (before: nothing). */
static void reply_out_of_memory_reaches_actor_as_enomem(void **state) {
    (void)state;
    assert_true(request_out_of_memory(&replier_beh));
    assert_int_equal((int)(int64_t)tu_load(&reply_rc), TR_ENOMEM);
    assert_int_equal((int)(int64_t)tu_load(&notice_status), TR_ENOMEM);
    assert_int_equal(tu_load(&notice_corr), TAG);
}

/* --- a lane's word entries when no block can be had to deliver them ---------- */

#define T_HOARD 4
#define T_WORD 5
#define T_PING 6
#define T_WARM 7

static uint64_t lane_sent, lane_words;

static int lane_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    if (msg->type == T_HOARD) {
        /* Block until everything is queued (so the lane never drains and
         * is never retired), then run out of memory. */
        tu_wait_ge(&lane_sent, 1, 10000);
        __atomic_store_n(&all_fail, 1, __ATOMIC_SEQ_CST);
        if (tr_msg_keep(ctx, msg) == 0) /* its block must not come back either */
            hoard[hoard_n++] = msg;
        while (hoard_n < HOARD_MAX && tr_msg_new(&hoard[hoard_n], 1, 0) == 0)
            hoard_n++;
        return 0;
    }
    if (msg->type == T_PING) {
        if (tr_msg_wants_reply(msg))
            (void)tr_reply_word(msg, T_PING, msg->word);
        return 0;
    }
    if (msg->type == T_WORD)
        tu_add(&lane_words, 1);
    /* Out of memory, every block delivered is kept: none refills the cache. */
    if (__atomic_load_n(&all_fail, __ATOMIC_SEQ_CST) && hoard_n < HOARD_MAX &&
        tr_msg_keep(ctx, msg) == 0)
        hoard[hoard_n++] = msg;
    return 0;
}

static const tr_behavior lane_beh = {.receive = lane_receive};

/* Before the fix the owner kept retrying the first word entry's block: its
 * worker spun, and the ask behind it never settled. */
static void lane_words_out_of_memory_do_not_block_the_lane(void **state) {
    (void)state;
    hoard_n = 0;
    tr_runtime *rt = tu_runtime_new(1);
    assert_non_null(rt);
    tr_spawn_opts o = {0};
    o.lanes = 1;
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &lane_beh, &o, &ref), 0);
    assert_int_equal(tr_send_word(ref, T_HOARD, 0), 0); /* blocks the only worker */
    for (int i = 0; i < 64; i++) /* a run of sends: this thread gets a lane */
        assert_int_equal(tr_send_word(ref, T_WARM, (uint64_t)i), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(tr_send_word(ref, T_WORD, (uint64_t)i), 0);
    tr_future *f;
    assert_int_equal(tr_ask_word(ref, T_PING, 9, &f), 0);
    tu_store(&lane_sent, 1);
    tr_msg *reply = NULL;
    int rc = tr_future_wait(f, 10000, &reply);
    __atomic_store_n(&all_fail, 0, __ATOMIC_SEQ_CST);
    assert_true(hoard_n < HOARD_MAX);
    for (size_t i = 0; i < hoard_n; i++)
        tr_msg_free(hoard[i]);
    /* The words were dead-lettered (no block to deliver them in); the ask
     * got through and its reply could not be allocated. */
    assert_int_equal(rc, TR_ENOMEM);
    assert_int_equal(tu_load(&lane_words), 0);
    tr_runtime_stats st;
    assert_int_equal(tr_runtime_stats_get(rt, &st), 0);
    assert_true(st.dead_letters >= 3);
    tr_future_release(f);
    tr_ref_release(ref);
    assert_int_equal(tr_runtime_free(rt), 0);
}

/* --- the first stash makes the actor's side block ------------------------------ */

#define T_STASH 8

static uint64_t stash_rc, stash_len_seen, stash_done;

/* Stashes its first message with every allocation of this thread failing,
 * and records what tr_stash said and how long the stash then is. */
static int oom_stash_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    if (msg->type != T_STASH)
        return 0;
    if (tu_load(&stash_done) != 0) { /* back from the stash */
        tu_add(&stash_done, 1);
        return 0;
    }
    tls_fail = 1;
    int rc = tr_stash(ctx, msg);
    tls_fail = 0;
    tu_store(&stash_rc, (uint64_t)(int64_t)rc);
    tu_store(&stash_len_seen, (uint64_t)tr_stash_len(ctx));
    if (rc == 0)
        (void)tr_unstash_all(ctx); /* received again: counted below */
    tu_add(&stash_done, 1);
    return 0;
}

static const tr_behavior oom_stash_beh = {.receive = oom_stash_receive};

/* Runs one actor spawned with opts through a stash out of memory; returns
 * how many times its receive saw the message (waiting for `expect`). */
static uint64_t stash_out_of_memory(const tr_spawn_opts *opts, uint64_t expect) {
    tu_store(&stash_rc, 1);
    tu_store(&stash_done, 0);
    tr_runtime *rt = tu_runtime_new(1);
    assert_non_null(rt);
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &oom_stash_beh, opts, &ref), 0);
    assert_int_equal(tr_send_word(ref, T_STASH, 1), 0);
    assert_true(tu_wait_ge(&stash_done, expect, 10000));
    tr_ref_release(ref);
    assert_int_equal(tr_runtime_free(rt), 0);
    return tu_load(&stash_done);
}

/* An actor with no side block yet: its first stash needs one, cannot have
 * it, and says TR_ENOMEM with nothing changed (the message is handled as
 * usual, the stash stays empty). */
static void first_stash_out_of_memory_returns_enomem(void **state) {
    (void)state;
    assert_int_equal(stash_out_of_memory(NULL, 1), 1);
    assert_int_equal((int)(int64_t)tu_load(&stash_rc), TR_ENOMEM);
    assert_int_equal(tu_load(&stash_len_seen), 0);
}

/* An actor spawned with a stash capacity of its own has its side block
 * from spawn: its stashes allocate nothing, so they work out of memory. */
static void stash_with_own_capacity_needs_no_memory(void **state) {
    (void)state;
    tr_spawn_opts o = {0};
    o.stash_capacity = 4;
    assert_int_equal(stash_out_of_memory(&o, 2), 2); /* stashed, then back */
    assert_int_equal((int)(int64_t)tu_load(&stash_rc), 0);
    assert_int_equal(tu_load(&stash_len_seen), 1);
}

/* --- a supervisor's backoff restart out of memory --------------------------- */

/* The child crashes on B_CRASH once the test says go, with every
 * allocation failing from then on. The supervisor must still learn of it
 * (the EXIT was made with the link: before, it was made at the end, and
 * out of memory it was dropped) and its backoff restart must still fall
 * due: its timer needs no memory to arm (a slot in its state), and the
 * timer thread retries making its message until memory is back. Nothing
 * else sends the supervisor a message. Before the slot, arming allocated:
 * out of memory there was no timer, and the child was never restarted. */
#define B_CRASH 1
static uint64_t b_starts, b_go;

static int crash_child_init(tr_ctx *ctx, void *state, void *arg) {
    (void)ctx;
    (void)state;
    (void)arg;
    tu_add(&b_starts, 1);
    return 0;
}

static int crash_child_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    if (msg->type != B_CRASH)
        return 0;
    int64_t end = tu_now_ms() + 10000;
    while (!tu_load(&b_go) && tu_now_ms() < end)
        tu_sleep_ms(1);
    __atomic_store_n(&all_fail, 1, __ATOMIC_SEQ_CST);
    return -1;
}

static const tr_behavior crash_child = {crash_child_init, crash_child_receive, NULL};

static void backoff_restart_falls_due_out_of_memory(void **state) {
    (void)state;
    tu_store(&b_starts, 0);
    tu_store(&b_go, 0);
    tr_runtime *rt = tu_runtime_new(2);
    assert_non_null(rt);
    tr_child_spec spec = {.id = "c", .behavior = &crash_child, .restart = TR_CHILD_PERMANENT};
    tr_sup_config cfg = {.strategy = TR_SUP_ONE_FOR_ONE,
                         .intensity = 10,
                         .period_ms = 10000,
                         .backoff_min_ms = 30,
                         .backoff_max_ms = 30,
                         .children = &spec,
                         .nchildren = 1};
    tr_ref *sup;
    assert_int_equal(tr_sup_start(rt, &cfg, &sup), 0);
    assert_int_equal(tu_load(&b_starts), 1);
    tr_ref *c = tu_sup_child(sup, "c");
    assert_non_null(c);
    assert_int_equal(tr_send_word(c, B_CRASH, 0), 0);
    tr_ref_release(c);
    tu_store(&b_go, 1); /* it crashes, and memory runs out */
    /* Well past the backoff, still out of memory: no restart can be made. */
    tu_sleep_ms(300);
    assert_int_equal(tu_load(&b_starts), 1);
    __atomic_store_n(&all_fail, 0, __ATOMIC_SEQ_CST);
    assert_true(tu_wait_ge(&b_starts, 2, 10000));
    tr_sup_stats st;
    assert_int_equal(tr_sup_stats_get(sup, &st), 0);
    assert_int_equal(st.restarts, 1);
    assert_int_equal(st.delayed, 1);
    tr_ref_release(sup);
    assert_int_equal(tr_runtime_free(rt), 0);
}

/* --- DOWN and EXIT out of memory ---------------------------------------------- */

/* A watcher monitors and links (trapping exits) an actor that then ends
 * with every allocation failing: the DOWN and the EXIT still arrive, while
 * memory is still out, because each was made with its monitor or link. */
#define W_SETUP 1
static uint64_t w_setup_rc, w_setup_done, w_down, w_exit, w_exit_kind;

static int watcher_init(tr_ctx *ctx, void *state, void *arg) {
    (void)state;
    (void)arg;
    return tr_trap_exit(ctx, 1);
}

static int watcher_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    if (msg->type == W_SETUP) {
        tr_ref *t = (tr_ref *)(uintptr_t)msg->word;
        uint64_t id;
        int rc = tr_monitor(ctx, t, &id);
        if (rc == 0)
            rc = tr_link(ctx, t);
        tu_store(&w_setup_rc, (uint64_t)(int64_t)rc);
        tu_store(&w_setup_done, 1);
    } else if (msg->type == TR_MSG_DOWN) {
        tu_add(&w_down, 1);
    } else if (msg->type == TR_MSG_EXIT) {
        tu_store(&w_exit_kind, (uint64_t)msg->status);
        tu_add(&w_exit, 1);
    }
    return 0;
}

static const tr_behavior watcher_beh = {watcher_init, watcher_receive, NULL};

static void down_and_exit_arrive_out_of_memory(void **state) {
    (void)state;
    tu_store(&b_starts, 0);
    tu_store(&b_go, 0);
    tr_runtime *rt = tu_runtime_new(2);
    assert_non_null(rt);
    tr_ref *t, *w;
    assert_int_equal(tr_spawn(rt, &crash_child, NULL, &t), 0);
    assert_int_equal(tr_spawn(rt, &watcher_beh, NULL, &w), 0);
    assert_int_equal(tr_send_word(w, W_SETUP, (uint64_t)(uintptr_t)t), 0);
    assert_true(tu_wait_ge(&w_setup_done, 1, 10000));
    assert_int_equal(tu_load(&w_setup_rc), 0);
    assert_int_equal(tr_send_word(t, B_CRASH, 0), 0);
    tu_store(&b_go, 1); /* it crashes, and memory runs out */
    assert_true(tu_wait_ge(&w_down, 1, 10000));
    assert_true(tu_wait_ge(&w_exit, 1, 10000));
    assert_int_equal(tu_load(&w_exit_kind), TR_EXIT_ERROR);
    __atomic_store_n(&all_fail, 0, __ATOMIC_SEQ_CST);
    tr_ref_release(t);
    tr_ref_release(w);
    assert_int_equal(tr_runtime_free(rt), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(thread_exit_out_of_memory_frees_the_cache),
        cmocka_unit_test(stop_after_enomem_still_stops),
        cmocka_unit_test(runtime_free_after_failed_stop_returns),
        cmocka_unit_test(close_out_of_memory_still_stops_every_actor),
        cmocka_unit_test(ask_failed_notice_out_of_memory_still_arrives),
        cmocka_unit_test(reply_out_of_memory_reaches_actor_as_enomem),
        cmocka_unit_test(lane_words_out_of_memory_do_not_block_the_lane),
        cmocka_unit_test(first_stash_out_of_memory_returns_enomem),
        cmocka_unit_test(stash_with_own_capacity_needs_no_memory),
        cmocka_unit_test(backoff_restart_falls_due_out_of_memory),
        cmocka_unit_test(down_and_exit_arrive_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
