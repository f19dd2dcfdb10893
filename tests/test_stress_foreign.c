/* tests/test_stress_foreign.c - sends from foreign threads into unbounded
 * mailboxes.
 *
 * A foreign thread is a plain pthread, not one of the runtime's workers. Its
 * sends travel through the actor's mailbox, or, to an actor spawned with
 * tr_spawn_opts.lanes, through a lane of its own once it has sent a few in a
 * row (core/lane.c). Every test runs both ways. They pin down what a user
 * can see, whatever the transport:
 *
 *   1. every send call (word, data, ptr, msg, batch) from one thread arrives
 *      in that thread's order, exactly once, and every ptr is freed once;
 *   2. a thread spreading its sends over several actors (round-robin, and in
 *      bursts of many lengths) keeps the order towards each actor;
 *   3. threads that send and exit at once lose nothing;
 *   4. sends racing tr_actor_stop are delivered or dead-lettered exactly once
 *      (refused ones stay the caller's), over rounds of fresh actors whose
 *      handles' memory may be reused;
 *   5. the same accounting with tr_runtime_close mid-flood; sends made after
 *      the close returned get TR_ECLOSED;
 *   6. a word message the actor keeps (tr_msg_keep) stays intact until it is
 *      freed, while the same sender goes on sending;
 *   7. an ask from a foreign thread arrives after that thread's earlier sends.
 *
 * Counts (divided by TU_SANITIZER_SLOWDOWN where marked "/ SLOW"):
 *   1. MIX_SENDERS 4 x MIX_PER_SENDER 100,000 / SLOW messages to one actor;
 *   2. SPREAD_SENDERS 4 x SPREAD_ACTORS 6, SPREAD_REPS 200 / SLOW repetitions
 *      of 40 round-robin passes plus one burst of 1..100 to each actor;
 *   3. SHORT_THREADS 50 threads x SHORT_WORDS 1,000 words: 10 one after
 *      another, then 40 in groups of SHORT_GROUP 5;
 *   4. RACE_SENDERS 4 threads (words, every third a ptr), RACE_ROUNDS 6
 *      fresh actors, each stopped once one sender made 1 / 10 / 100 sends,
 *      or once 1,000 / 10,000 / 50,000 (/ SLOW) of one sender's messages
 *      were delivered; at full speed at most RACE_CAP 200,000 / SLOW sends
 *      per sender and round, then one a millisecond;
 *   5. CLOSE_SENDERS 4 threads over CLOSE_ACTORS 2 actors, CLOSE_ROUNDS 5
 *      runtimes, closed after 1 / 10 sends, or 1,000 / 10,000 / 50,000
 *      (/ SLOW) deliveries, the same way;
 *   6. KEEP_SENDERS 2 x KEEP_PER_SENDER 100,000 / SLOW words, every 10th
 *      kept and freed KEEP_HOLD 32 kept messages later;
 *   7. ASK_THREADS 4 threads, ASK_REPS 20 x 15 values of k (0..1000).
 *
 * Threads never assert: they count into globals (tu_add), the test thread
 * waits with deadlines and asserts. Test 4 keeps its sender threads across
 * rounds, so its test thread records failures (round_check) and asserts
 * only once the threads are gone. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

static uint32_t g_lanes; /* tr_spawn_opts.lanes of the actors under test */

#define SLOW TU_SANITIZER_SLOWDOWN

/* --- shared helpers ------------------------------------------------------ */

static uint64_t next_rand(uint64_t *s) { /* xorshift64 */
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* An owned pointer payload: the sequence number and a magic that the one
 * free clears, so a second free (or a free of garbage) is seen. */
#define BOX_MAGIC 0x5EED5EEDB0B0B0B0ull

typedef struct box {
    uint64_t seq;
    uint64_t magic;
} box;

static uint64_t runtime_frees, own_frees, bad_frees;

static box *box_new(uint64_t seq) {
    box *b = malloc(sizeof(*b));
    if (b != NULL) {
        b->seq = seq;
        b->magic = BOX_MAGIC;
    }
    return b;
}

static void box_free_counted(box *b, uint64_t *counter) {
    if (b == NULL || b->magic != BOX_MAGIC) {
        tu_add(&bad_frees, 1);
        return; /* not ours or freed before: leave it (ASan reports a leak) */
    }
    b->magic = 0;
    free(b);
    tu_add(counter, 1);
}

/* The ptr_free the runtime runs. */
static void box_free(void *p) {
    box_free_counted(p, &runtime_frees);
}

/* What a sender does with a box whose send was refused: it is still ours. */
static void box_free_own(box *b) {
    box_free_counted(b, &own_frees);
}

static uint64_t received, order_errors, payload_errors, send_errors;

static void reset_common(void) {
    uint64_t *all[] = {&runtime_frees, &own_frees,      &bad_frees,  &received,
                       &order_errors,  &payload_errors, &send_errors};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        tu_store(all[i], 0);
}

/* Per-key order state of an actor (keys: senders). Owner only; the test
 * thread reads it after tr_runtime_free. */
#define MAX_KEYS 64
typedef struct order_state {
    uint64_t next[MAX_KEYS];
} order_state;

static void check_order(order_state *s, uint32_t key, uint64_t seq) {
    if (key >= MAX_KEYS || seq != s->next[key])
        tu_add(&order_errors, 1);
    else
        s->next[key]++;
}

/* --- 1. mixed send calls ------------------------------------------------- */

#define MIX_SENDERS 4
#define MIX_PER_SENDER (100000 / SLOW)

/* type = kind << 8 | (sender + 1); every message carries its sequence. */
enum { K_WORD = 1, K_DATA, K_PTR, K_MSG, K_BATCH };
#define MIX_TYPE(kind, sender) (((uint32_t)(kind) << 8) | ((uint32_t)(sender) + 1))

static uint64_t mix_sent[MIX_SENDERS], mix_ptr_sent;

static int mixed_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    uint32_t from = (msg->type & 0xFFu) - 1, kind = msg->type >> 8;
    uint64_t seq = UINT64_MAX;
    int bad = 0;
    switch (kind) {
    case K_WORD:
    case K_BATCH:
        seq = msg->word;
        bad = msg->ptr != NULL;
        break;
    case K_MSG: { /* the word and 8 data bytes both hold the sequence */
        const uint64_t *d = tr_msg_payload(msg, sizeof(uint64_t));
        seq = msg->word;
        bad = d == NULL || *d != seq || msg->ptr != NULL;
        break;
    }
    case K_DATA: { /* seq, ~seq */
        const uint64_t *d = tr_msg_payload(msg, 2 * sizeof(uint64_t));
        bad = d == NULL || d[1] != ~d[0] || msg->ptr != NULL;
        if (d != NULL)
            seq = d[0];
        break;
    }
    case K_PTR: {
        const box *b = msg->ptr;
        bad = b == NULL || b->magic != BOX_MAGIC || msg->ptr_free != box_free;
        if (b != NULL)
            seq = b->seq;
        break;
    }
    default:
        bad = 1;
    }
    if (bad)
        tu_add(&payload_errors, 1);
    check_order(state, from, seq);
    tu_add(&received, 1);
    return 0;
}

static int mix_send_one(tr_ref *to, uint32_t id, uint32_t kind, uint64_t seq) {
    uint32_t type = MIX_TYPE(kind, id);
    switch (kind) {
    case K_WORD:
        return tr_send_word(to, type, seq);
    case K_DATA: {
        uint64_t d[2] = {seq, ~seq};
        return tr_send(to, type, d, sizeof(d));
    }
    case K_PTR: {
        box *b = box_new(seq);
        if (b == NULL)
            return TR_ENOMEM;
        int rc = tr_send_ptr(to, type, b, box_free);
        if (rc != 0)
            box_free_own(b);
        return rc;
    }
    case K_MSG: {
        tr_msg *m;
        int rc = tr_msg_new(&m, type, sizeof(uint64_t));
        if (rc != 0)
            return rc;
        m->word = seq;
        memcpy(tr_msg_data(m), &seq, sizeof(seq));
        rc = tr_send_msg(to, m);
        if (rc != 0)
            tr_msg_free(m);
        return rc;
    }
    default:
        return TR_EINVAL;
    }
}

static int mix_send_batch(tr_ref *to, uint32_t id, uint64_t seq) {
    tr_msg *m[3];
    for (int i = 0; i < 3; i++) {
        if (tr_msg_new(&m[i], MIX_TYPE(K_BATCH, id), 0) != 0) {
            while (i-- > 0)
                tr_msg_free(m[i]);
            return TR_ENOMEM;
        }
        m[i]->word = seq + (uint64_t)i;
    }
    int rc = tr_send_batch(to, m, 3);
    if (rc != 0)
        for (int i = 0; i < 3; i++)
            tr_msg_free(m[i]);
    return rc;
}

/* A sender thread: sends to `to` with type id + 1 (n: how many, where the
 * test needs it). */
typedef struct sender {
    pthread_t t;
    tr_ref *to;
    uint32_t id;
    uint64_t n;
} sender;

/* Sends words 0 .. n-1 and exits. */
static void *word_sender(void *arg) {
    sender *a = arg;
    for (uint64_t i = 0; i < a->n; i++)
        if (tr_send_word(a->to, a->id + 1, i) != 0)
            tu_add(&send_errors, 1);
    return NULL;
}

/* Runs of 1..8 words (about half the messages) between single sends of the
 * other kinds, so word runs long enough to change a transport are cut by
 * every other kind of send. */
static void *mixed_sender(void *arg) {
    sender *a = arg;
    uint64_t rng = 0x9E3779B97F4A7C15ull * (a->id + 1), seq = 0, ptrs = 0;
    while (seq < MIX_PER_SENDER) {
        uint64_t left = MIX_PER_SENDER - seq, r = next_rand(&rng);
        unsigned pick = (unsigned)(r % 8);
        int rc = 0;
        if (pick < 3 || (pick == 7 && left < 3)) {
            uint64_t run = 1 + (r >> 8) % 8;
            for (uint64_t i = 0; i < run && seq < MIX_PER_SENDER && rc == 0; i++)
                if ((rc = mix_send_one(a->to, a->id, K_WORD, seq)) == 0)
                    seq++;
        } else if (pick == 7) {
            if ((rc = mix_send_batch(a->to, a->id, seq)) == 0)
                seq += 3;
        } else {
            uint32_t kind = pick == 3 ? K_DATA : pick == 4 ? K_PTR : pick == 5 ? K_MSG : K_WORD;
            if ((rc = mix_send_one(a->to, a->id, kind, seq)) == 0) {
                seq++;
                ptrs += kind == K_PTR;
            }
        }
        if (rc != 0) {
            tu_add(&send_errors, 1);
            break; /* the order is broken now: stop, the test fails */
        }
    }
    tu_store(&mix_sent[a->id], seq);
    tu_add(&mix_ptr_sent, ptrs);
    return NULL;
}

static void mixed_send_calls_from_foreign_threads_arrive_in_per_sender_order(void **state) {
    (void)state;
    static const tr_behavior beh = {NULL, mixed_receive, NULL};
    static order_state st;
    memset(&st, 0, sizeof(st));
    reset_common();
    tu_store(&mix_ptr_sent, 0);
    tr_runtime *rt = tu_runtime_new(2);
    assert_non_null(rt);
    tr_spawn_opts o = {.arg = &st, .lanes = g_lanes};
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &beh, &o, &ref), 0);
    sender s[MIX_SENDERS];
    for (uint32_t i = 0; i < MIX_SENDERS; i++) {
        s[i] = (sender){.to = ref, .id = i};
        assert_int_equal(pthread_create(&s[i].t, NULL, mixed_sender, &s[i]), 0);
    }
    for (int i = 0; i < MIX_SENDERS; i++)
        pthread_join(s[i].t, NULL);
    assert_int_equal(tu_load(&send_errors), 0);
    uint64_t total = 0;
    for (int i = 0; i < MIX_SENDERS; i++) {
        assert_int_equal(tu_load(&mix_sent[i]), MIX_PER_SENDER);
        total += MIX_PER_SENDER;
    }
    assert_true(tu_wait_ge(&received, total, TU_WAIT_MS));
    assert_true(tu_wait_ge(&runtime_frees, tu_load(&mix_ptr_sent), TU_WAIT_MS));
    tr_ref_release(ref);
    assert_int_equal(tr_runtime_free(rt), 0);

    assert_int_equal(tu_load(&received), total);
    assert_int_equal(tu_load(&order_errors), 0);
    assert_int_equal(tu_load(&payload_errors), 0);
    assert_true(tu_load(&mix_ptr_sent) > 0);
    assert_int_equal(tu_load(&runtime_frees), tu_load(&mix_ptr_sent));
    assert_int_equal(tu_load(&own_frees), 0);
    assert_int_equal(tu_load(&bad_frees), 0);
    for (int i = 0; i < MIX_SENDERS; i++)
        assert_int_equal(st.next[i], MIX_PER_SENDER);
}

/* --- 2. one thread, several actors --------------------------------------- */

#define SPREAD_SENDERS 4
#define SPREAD_ACTORS 6
#define SPREAD_REPS (200 / SLOW)
#define SPREAD_PASSES 40 /* round-robin passes per repetition */
static const uint64_t spread_bursts[] = {1, 2, 3, 4, 5, 6, 8, 16, 100};
#define N_BURSTS (sizeof(spread_bursts) / sizeof(spread_bursts[0]))

static order_state spread_state[SPREAD_ACTORS];
static uint64_t spread_sent[SPREAD_SENDERS][SPREAD_ACTORS];

/* type = sender + 1, word = the sequence towards this actor. */
static int spread_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    check_order(state, msg->type - 1, msg->word);
    tu_add(&received, 1);
    return 0;
}

typedef struct spread_arg {
    pthread_t t;
    tr_ref **to;
    uint32_t id;
} spread_arg;

/* A word, or every so often a tr_send_msg, carrying seq in msg->word. */
static int spread_send(tr_ref *to, uint32_t type, uint64_t seq, int as_msg) {
    if (!as_msg)
        return tr_send_word(to, type, seq);
    tr_msg *m;
    int rc = tr_msg_new(&m, type, 0);
    if (rc != 0)
        return rc;
    m->word = seq;
    rc = tr_send_msg(to, m);
    if (rc != 0)
        tr_msg_free(m);
    return rc;
}

static void *spread_sender(void *arg) {
    spread_arg *a = arg;
    uint64_t seq[SPREAD_ACTORS] = {0};
    uint32_t type = a->id + 1;
    uint64_t errors = 0, n = 0;
    for (uint64_t rep = 0; rep < SPREAD_REPS; rep++) {
        /* Round-robin: never two sends in a row to one actor. */
        for (uint64_t p = 0; p < SPREAD_PASSES; p++)
            for (uint32_t k = 0; k < SPREAD_ACTORS; k++, n++) {
                if (spread_send(a->to[k], type, seq[k], n % 13 == 0) == 0)
                    seq[k]++;
                else
                    errors++;
            }
        /* Bursts: many in a row to one actor, then the next; the length
         * differs per actor and repetition. */
        for (uint32_t k = 0; k < SPREAD_ACTORS; k++) {
            uint64_t len = spread_bursts[(rep + k + a->id) % N_BURSTS];
            for (uint64_t i = 0; i < len; i++, n++) {
                if (spread_send(a->to[k], type, seq[k], n % 29 == 0) == 0)
                    seq[k]++;
                else
                    errors++;
            }
        }
    }
    for (int k = 0; k < SPREAD_ACTORS; k++)
        tu_store(&spread_sent[a->id][k], seq[k]);
    tu_add(&send_errors, errors);
    return NULL;
}

static void one_thread_spreading_sends_over_actors_keeps_per_actor_order(void **state) {
    (void)state;
    static const tr_behavior beh = {NULL, spread_receive, NULL};
    memset(spread_state, 0, sizeof(spread_state));
    reset_common();
    tr_runtime *rt = tu_runtime_new(2);
    assert_non_null(rt);
    tr_ref *refs[SPREAD_ACTORS];
    for (int k = 0; k < SPREAD_ACTORS; k++) {
        tr_spawn_opts o = {.arg = &spread_state[k], .lanes = g_lanes};
        assert_int_equal(tr_spawn(rt, &beh, &o, &refs[k]), 0);
    }
    spread_arg s[SPREAD_SENDERS];
    for (uint32_t i = 0; i < SPREAD_SENDERS; i++) {
        s[i] = (spread_arg){.to = refs, .id = i};
        assert_int_equal(pthread_create(&s[i].t, NULL, spread_sender, &s[i]), 0);
    }
    for (int i = 0; i < SPREAD_SENDERS; i++)
        pthread_join(s[i].t, NULL);
    assert_int_equal(tu_load(&send_errors), 0);
    uint64_t total = 0;
    for (int i = 0; i < SPREAD_SENDERS; i++)
        for (int k = 0; k < SPREAD_ACTORS; k++)
            total += tu_load(&spread_sent[i][k]);
    assert_true(tu_wait_ge(&received, total, TU_WAIT_MS));
    for (int k = 0; k < SPREAD_ACTORS; k++)
        tr_ref_release(refs[k]);
    assert_int_equal(tr_runtime_free(rt), 0);

    assert_int_equal(tu_load(&received), total);
    assert_int_equal(tu_load(&order_errors), 0);
    uint64_t per_pair = 0; /* what each (sender, actor) pair must have sent */
    for (uint64_t rep = 0; rep < SPREAD_REPS; rep++)
        per_pair += SPREAD_PASSES;
    for (int i = 0; i < SPREAD_SENDERS; i++)
        for (int k = 0; k < SPREAD_ACTORS; k++) {
            uint64_t want = per_pair;
            for (uint64_t rep = 0; rep < SPREAD_REPS; rep++)
                want += spread_bursts[(rep + (uint64_t)k + (uint64_t)i) % N_BURSTS];
            assert_int_equal(tu_load(&spread_sent[i][k]), want);
            assert_int_equal(spread_state[k].next[i], want);
        }
}

/* --- 3. short-lived senders ---------------------------------------------- */

#define SHORT_THREADS 50
#define SHORT_WORDS 1000
#define SHORT_SERIAL 10 /* the first ones run one at a time */
#define SHORT_GROUP 5   /* the rest SHORT_GROUP at a time */

static void short_lived_sender_threads_lose_nothing(void **state) {
    (void)state;
    static const tr_behavior beh = {NULL, spread_receive, NULL};
    static order_state st;
    _Static_assert(SHORT_THREADS <= MAX_KEYS, "one order key per thread");
    memset(&st, 0, sizeof(st));
    reset_common();
    tr_runtime *rt = tu_runtime_new(2);
    assert_non_null(rt);
    tr_spawn_opts o = {.arg = &st, .lanes = g_lanes};
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &beh, &o, &ref), 0);
    sender s[SHORT_THREADS]; /* send and exit at once: what they left must get there */
    for (uint32_t i = 0; i < SHORT_THREADS; i++)
        s[i] = (sender){.to = ref, .id = i, .n = SHORT_WORDS};
    for (uint32_t i = 0; i < SHORT_SERIAL; i++) {
        assert_int_equal(pthread_create(&s[i].t, NULL, word_sender, &s[i]), 0);
        pthread_join(s[i].t, NULL);
    }
    for (uint32_t i = SHORT_SERIAL; i < SHORT_THREADS; i += SHORT_GROUP) {
        for (uint32_t j = i; j < i + SHORT_GROUP && j < SHORT_THREADS; j++)
            assert_int_equal(pthread_create(&s[j].t, NULL, word_sender, &s[j]), 0);
        for (uint32_t j = i; j < i + SHORT_GROUP && j < SHORT_THREADS; j++)
            pthread_join(s[j].t, NULL);
    }
    const uint64_t total = (uint64_t)SHORT_THREADS * SHORT_WORDS;
    assert_true(tu_wait_ge(&received, total, TU_WAIT_MS));
    tr_ref_release(ref);
    assert_int_equal(tr_runtime_free(rt), 0);

    assert_int_equal(tu_load(&send_errors), 0);
    assert_int_equal(tu_load(&received), total);
    assert_int_equal(tu_load(&order_errors), 0);
    for (int i = 0; i < SHORT_THREADS; i++)
        assert_int_equal(st.next[i], SHORT_WORDS);
}

/* --- accounting shared by 4. and 5. -------------------------------------- */

/* Per sender: what it got accepted, what arrived, what was dead-lettered. */
#define ACCT_SENDERS 4
static uint64_t acc_attempts[ACCT_SENDERS], acc_accepted[ACCT_SENDERS], acc_delivered[ACCT_SENDERS],
    acc_dead[ACCT_SENDERS];
static uint64_t acc_ptr_accepted, acc_refused, acc_wrong_rc, acc_accepted_after_refusal,
    acc_after_close_not_closed, acc_foreign_dead, acc_never_refused;

static void reset_accounting(void) {
    for (int i = 0; i < ACCT_SENDERS; i++) {
        tu_store(&acc_attempts[i], 0);
        tu_store(&acc_accepted[i], 0);
        tu_store(&acc_delivered[i], 0);
        tu_store(&acc_dead[i], 0);
    }
    uint64_t *all[] = {
        &acc_ptr_accepted,           &acc_refused,     &acc_wrong_rc, &acc_accepted_after_refusal,
        &acc_after_close_not_closed, &acc_foreign_dead};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        tu_store(all[i], 0);
}

static uint64_t sum_of(const uint64_t *a) {
    uint64_t n = 0;
    for (int i = 0; i < ACCT_SENDERS; i++)
        n += tu_load(&a[i]);
    return n;
}

/* type = sender + 1 for words, (1 << 8) | (sender + 1) for ptrs; word or
 * box = the sender's sequence towards this actor. Delivered messages must
 * come in order from 0 (dead-lettered ones are the tail). */
static uint32_t acct_sender(const tr_msg *msg) {
    return (msg->type & 0xFFu) - 1;
}

static int acct_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    uint32_t from = acct_sender(msg);
    uint64_t seq =
        (msg->type >> 8) ? (msg->ptr ? ((const box *)msg->ptr)->seq : UINT64_MAX) : msg->word;
    check_order(state, from, seq);
    if (from < ACCT_SENDERS)
        tu_add(&acc_delivered[from], 1);
    return 0;
}

static void acct_dead_letter(void *user, const tr_msg *msg, int why) {
    (void)user;
    (void)why;
    uint32_t from = acct_sender(msg);
    if (msg->type < TR_MSG_SYSTEM && from < ACCT_SENDERS)
        tu_add(&acc_dead[from], 1);
    else
        tu_add(&acc_foreign_dead, 1);
}

static tr_runtime *acct_runtime(void) {
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = 2;
    cfg.dead_letter = acct_dead_letter;
    tr_runtime *rt = NULL;
    return tr_runtime_new(&rt, &cfg) == 0 ? rt : NULL;
}

/* One send of the flood: a word, or every third a boxed pointer. Returns
 * the send's rc and does the refused pointer's free. */
static int acct_send(tr_ref *to, uint32_t id, uint64_t seq, uint64_t i, uint64_t *ptrs) {
    tu_add(&acc_attempts[id], 1); /* the test thread times its stop by it */
    if (i % 3 != 2)
        return tr_send_word(to, id + 1, seq);
    box *b = box_new(seq);
    if (b == NULL)
        return TR_ENOMEM;
    int rc = tr_send_ptr(to, (1u << 8) | (id + 1), b, box_free);
    if (rc == 0)
        (*ptrs)++;
    else
        box_free_own(b); /* refused: still ours */
    return rc;
}

/* Everything accepted was delivered or dead-lettered (and every accepted
 * pointer freed by the runtime). */
static int acct_settled(void *arg) {
    (void)arg;
    return sum_of(acc_delivered) + sum_of(acc_dead) == sum_of(acc_accepted) &&
           tu_load(&runtime_frees) == tu_load(&acc_ptr_accepted);
}

/* --- 4. sends racing tr_actor_stop --------------------------------------- */

#define RACE_SENDERS ACCT_SENDERS
#define RACE_ROUNDS 6
#define RACE_CAP (200000 / SLOW) /* sends per sender per round at full speed */
#define AFTER_REFUSAL 64         /* attempts a sender makes once refused */
/* When the stop comes: once one sender made this many sends (the early
 * rounds: the stop races the first sends), or once this many of one
 * sender's messages were delivered (the later ones: mid-flood, the actor
 * busy). */
#define RACE_BY_SENDS 3 /* rounds timed by sends; the rest by deliveries */
static const uint64_t race_stop_after[RACE_ROUNDS] = {1,           10,           100,
                                                      1000 / SLOW, 10000 / SLOW, 50000 / SLOW};

static pthread_barrier_t race_start, race_end;
static tr_ref *race_target; /* set by the test thread between the barriers */
static uint64_t race_quit, round_failures;

/* Record (do not assert) on the test thread while senders wait at a
 * barrier: asserting would leave them there. */
#define round_check(cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            tu_add(&round_failures, 1);                                                            \
            print_error("%s:%d: round check failed: %s\n", __FILE__, __LINE__, #cond);             \
        }                                                                                          \
    } while (0)

/* Send to to[] (runs of 7 per actor) until refused, then try AFTER_REFUSAL
 * more times: once an actor refused, it must go on refusing. After cap
 * sends, one send a millisecond, so the mailbox stays bounded until the stop
 * comes (acc_never_refused: a sender it never reached). closed, if not NULL,
 * is read before each send: once set, the send must say TR_ECLOSED. */
static void acct_flood(tr_ref *const *to, unsigned n_to, uint32_t id, uint64_t cap,
                       const uint64_t *closed) {
    uint64_t seq[2] = {0, 0}, accepted = 0, ptrs = 0, refused = 0, wrong = 0, late = 0, after = 0;
    int dead[2] = {0, 0};
    unsigned left = AFTER_REFUSAL;
    int64_t deadline = tu_now_ms() + TU_WAIT_MS;
    for (uint64_t i = 0; left > 0; i++) {
        if (i >= cap) { /* the stop is late (a slow machine): wait for it, slowly */
            if (tu_now_ms() > deadline)
                break;
            tu_sleep_ms(1);
        }
        unsigned k = n_to > 1 ? (unsigned)((i / 7) % n_to) : 0; /* runs of 7 */
        int was_closed = closed != NULL && tu_load(closed);
        int rc = acct_send(to[k], id, seq[k], i, &ptrs);
        if (rc == 0) {
            seq[k]++;
            accepted++;
            if (dead[k] || was_closed)
                after++;
        } else if (rc == TR_EDEAD || rc == TR_ECLOSED) {
            refused++;
            dead[k] = 1;
            left--;
            if (was_closed && rc != TR_ECLOSED)
                late++;
        } else {
            wrong++;
            left--;
        }
    }
    if (left > 0)
        tu_add(&acc_never_refused, 1);
    tu_add(&acc_accepted[id], accepted);
    tu_add(&acc_ptr_accepted, ptrs);
    tu_add(&acc_refused, refused);
    tu_add(&acc_wrong_rc, wrong);
    tu_add(&acc_accepted_after_refusal, after);
    tu_add(&acc_after_close_not_closed, late);
}

static void *race_sender(void *arg) {
    uint32_t id = (uint32_t)(uintptr_t)arg;
    for (;;) {
        pthread_barrier_wait(&race_start);
        if (tu_load(&race_quit))
            break;
        acct_flood(&race_target, 1, id, RACE_CAP, NULL);
        pthread_barrier_wait(&race_end);
    }
    return NULL;
}

static void sends_racing_a_stop_are_delivered_or_dead_lettered_exactly_once(void **state) {
    (void)state;
    static const tr_behavior beh = {NULL, acct_receive, NULL};
    static const tr_behavior idle = {NULL, spread_receive, NULL};
    static order_state st[RACE_ROUNDS], keeper_state;
    memset(st, 0, sizeof(st));
    reset_common();
    tu_store(&race_quit, 0);
    tu_store(&acc_never_refused, 0);
    tu_store(&round_failures, 0);
    tr_runtime *rt = acct_runtime();
    assert_non_null(rt);
    /* Keeps the runtime open between rounds, so a round's actor block may be
     * reused by the next round's actor while the same threads send. */
    tr_spawn_opts ko = {.arg = &keeper_state};
    tr_ref *keeper;
    assert_int_equal(tr_spawn(rt, &idle, &ko, &keeper), 0);
    assert_int_equal(pthread_barrier_init(&race_start, NULL, RACE_SENDERS + 1), 0);
    assert_int_equal(pthread_barrier_init(&race_end, NULL, RACE_SENDERS + 1), 0);
    pthread_t t[RACE_SENDERS];
    for (uintptr_t i = 0; i < RACE_SENDERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, race_sender, (void *)i), 0);

    uint64_t delivered_total = 0, refused_total = 0, own_total = 0;
    for (int r = 0; r < RACE_ROUNDS; r++) {
        reset_accounting();
        tu_store(&runtime_frees, 0);
        tu_store(&own_frees, 0);
        tr_spawn_opts o = {.arg = &st[r], .lanes = g_lanes};
        tr_ref *ref = NULL;
        round_check(tr_spawn(rt, &beh, &o, &ref) == 0);
        race_target = ref; /* published by the barrier */
        pthread_barrier_wait(&race_start);
        const uint64_t *when = r < RACE_BY_SENDS ? acc_attempts : acc_delivered;
        round_check(tu_wait_ge(&when[r % RACE_SENDERS], race_stop_after[r], TU_WAIT_MS));
        round_check(tr_actor_stop(ref) == 0);
        pthread_barrier_wait(&race_end); /* every sender was refused, or capped */
        round_check(tu_wait_until(acct_settled, NULL, TU_WAIT_MS));
        round_check(tu_wait_alive(rt, 1, TU_WAIT_MS)); /* the keeper */
        round_check(tr_ref_is_alive(ref) == 0);
        round_check(tr_send_word(ref, 1, 0) == TR_EDEAD);
        for (int i = 0; i < RACE_SENDERS; i++) {
            uint64_t acc = tu_load(&acc_accepted[i]);
            round_check(tu_load(&acc_delivered[i]) + tu_load(&acc_dead[i]) == acc);
            round_check(st[r].next[i] == tu_load(&acc_delivered[i])); /* in order */
        }
        round_check(tu_load(&order_errors) == 0);
        round_check(tu_load(&acc_wrong_rc) == 0);
        round_check(sum_of(acc_attempts) == sum_of(acc_accepted) + tu_load(&acc_refused));
        round_check(tu_load(&acc_accepted_after_refusal) == 0);
        round_check(tu_load(&acc_foreign_dead) == 0);
        round_check(tu_load(&runtime_frees) == tu_load(&acc_ptr_accepted));
        round_check(tu_load(&own_frees) > 0); /* some ptr sends were refused */
        round_check(tu_load(&bad_frees) == 0);
        round_check(tu_load(&acc_refused) >= (uint64_t)RACE_SENDERS * AFTER_REFUSAL);
        print_message(
            "round %d: %llu accepted, %llu delivered, %llu dead-lettered, %llu refused\n", r,
            (unsigned long long)sum_of(acc_accepted), (unsigned long long)sum_of(acc_delivered),
            (unsigned long long)sum_of(acc_dead), (unsigned long long)tu_load(&acc_refused));
        delivered_total += sum_of(acc_delivered);
        refused_total += tu_load(&acc_refused);
        own_total += tu_load(&own_frees);
        tr_ref_release(ref); /* the block may now be reused */
    }
    tu_store(&race_quit, 1);
    pthread_barrier_wait(&race_start);
    for (int i = 0; i < RACE_SENDERS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&race_start);
    pthread_barrier_destroy(&race_end);
    tr_ref_release(keeper);
    assert_int_equal(tr_runtime_free(rt), 0);

    assert_int_equal(tu_load(&round_failures), 0);
    assert_int_equal(tu_load(&acc_never_refused), 0); /* every sender saw the stop */
    assert_true(delivered_total > 0);
    assert_true(refused_total > 0);
    assert_true(own_total > 0);
}

/* --- 5. sends racing tr_runtime_close ------------------------------------ */

#define CLOSE_SENDERS ACCT_SENDERS
#define CLOSE_ACTORS 2
#define CLOSE_ROUNDS 5
#define CLOSE_CAP (200000 / SLOW)
/* The close comes once one sender made this many attempts. */
#define CLOSE_BY_SENDS 2 /* as in 4.: rounds timed by sends, the rest by deliveries */
static const uint64_t close_after[CLOSE_ROUNDS] = {1, 10, 1000 / SLOW, 10000 / SLOW, 50000 / SLOW};

static tr_ref *close_targets[CLOSE_ACTORS];
static uint64_t close_returned; /* set once tr_runtime_close returned */

static void *close_sender(void *arg) {
    uint32_t id = (uint32_t)(uintptr_t)arg;
    acct_flood(close_targets, CLOSE_ACTORS, id, CLOSE_CAP, &close_returned);
    return NULL;
}

static void close_round(int r) {
    static const tr_behavior beh = {NULL, acct_receive, NULL};
    static order_state st[CLOSE_ACTORS];
    _Static_assert(CLOSE_ACTORS == 2, "acct_flood keeps two sequences");
    memset(st, 0, sizeof(st));
    reset_accounting();
    tu_store(&runtime_frees, 0);
    tu_store(&own_frees, 0);
    tu_store(&acc_never_refused, 0);
    tu_store(&close_returned, 0);
    tr_runtime *rt = acct_runtime();
    assert_non_null(rt);
    for (int k = 0; k < CLOSE_ACTORS; k++) {
        tr_spawn_opts o = {.arg = &st[k], .lanes = g_lanes};
        assert_int_equal(tr_spawn(rt, &beh, &o, &close_targets[k]), 0);
    }
    pthread_t t[CLOSE_SENDERS];
    for (uintptr_t i = 0; i < CLOSE_SENDERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, close_sender, (void *)i), 0);
    const uint64_t *when = r < CLOSE_BY_SENDS ? acc_attempts : acc_delivered;
    int reached = tu_wait_ge(&when[r % CLOSE_SENDERS], close_after[r], TU_WAIT_MS);
    assert_int_equal(tr_runtime_close(rt), 0);
    tu_store(&close_returned, 1);
    for (int i = 0; i < CLOSE_SENDERS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(tr_runtime_join(rt), 0);
    assert_true(reached);
    assert_true(tu_wait_until(acct_settled, NULL, TU_WAIT_MS));
    for (int k = 0; k < CLOSE_ACTORS; k++) {
        assert_int_equal(tr_send_word(close_targets[k], 1, 0), TR_ECLOSED);
        tr_ref_release(close_targets[k]);
    }
    assert_int_equal(tr_runtime_free(rt), 0);

    print_message("close round %d: %llu accepted, %llu delivered, %llu dead-lettered, "
                  "%llu refused\n",
                  r, (unsigned long long)sum_of(acc_accepted),
                  (unsigned long long)sum_of(acc_delivered), (unsigned long long)sum_of(acc_dead),
                  (unsigned long long)tu_load(&acc_refused));
    assert_int_equal(tu_load(&acc_never_refused), 0);
    assert_int_equal(tu_load(&acc_wrong_rc), 0);
    assert_int_equal(tu_load(&acc_after_close_not_closed), 0);
    assert_int_equal(tu_load(&acc_accepted_after_refusal), 0);
    assert_int_equal(tu_load(&acc_foreign_dead), 0);
    assert_int_equal(tu_load(&order_errors), 0);
    for (int i = 0; i < CLOSE_SENDERS; i++)
        assert_int_equal(tu_load(&acc_delivered[i]) + tu_load(&acc_dead[i]),
                         tu_load(&acc_accepted[i]));
    assert_int_equal(sum_of(acc_attempts), sum_of(acc_accepted) + tu_load(&acc_refused));
    assert_int_equal(tu_load(&runtime_frees), tu_load(&acc_ptr_accepted));
    assert_int_equal(tu_load(&bad_frees), 0);
    assert_true(tu_load(&own_frees) > 0);
    assert_true(tu_load(&acc_refused) >= (uint64_t)CLOSE_SENDERS * AFTER_REFUSAL);
}

static void closing_the_runtime_while_foreign_threads_send_loses_nothing(void **state) {
    (void)state;
    reset_common();
    for (int r = 0; r < CLOSE_ROUNDS; r++)
        close_round(r);
}

/* --- 6. kept foreign messages -------------------------------------------- */

#define KEEP_SENDERS 2
#define KEEP_PER_SENDER (100000 / SLOW)
#define KEEP_EVERY 10
#define KEEP_HOLD 32 /* kept messages held before the oldest is freed */

typedef struct kept {
    tr_msg *msg;
    uint32_t type;
    uint64_t word;
} kept;

typedef struct keep_state {
    order_state order;
    kept ring[KEEP_HOLD];
    unsigned head, n;
    uint64_t seen;
} keep_state;

static uint64_t keep_kept, keep_freed, keep_corrupt, keep_errors, keep_terminated;

static void keep_release_oldest(keep_state *s) {
    kept *k = &s->ring[s->head];
    if (k->msg->type != k->type || k->msg->word != k->word || k->msg->ptr != NULL)
        tu_add(&keep_corrupt, 1);
    tr_msg_free(k->msg);
    tu_add(&keep_freed, 1);
    s->head = (s->head + 1) % KEEP_HOLD;
    s->n--;
}

static int keep_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    keep_state *s = state;
    check_order(&s->order, msg->type - 1, msg->word);
    if (++s->seen % KEEP_EVERY == 0) {
        if (s->n == KEEP_HOLD)
            keep_release_oldest(s);
        if (tr_msg_keep(ctx, msg) != 0) {
            tu_add(&keep_errors, 1);
        } else {
            s->ring[(s->head + s->n) % KEEP_HOLD] = (kept){msg, msg->type, msg->word};
            s->n++;
            tu_add(&keep_kept, 1);
        }
    }
    tu_add(&received, 1);
    return 0;
}

static void keep_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    (void)why;
    keep_state *s = state;
    while (s->n > 0)
        keep_release_oldest(s);
    tu_store(&keep_terminated, 1);
}

static void a_kept_foreign_word_message_stays_intact_until_freed(void **state) {
    (void)state;
    static const tr_behavior beh = {NULL, keep_receive, keep_terminate};
    reset_common();
    uint64_t *all[] = {&keep_kept, &keep_freed, &keep_corrupt, &keep_errors, &keep_terminated};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        tu_store(all[i], 0);
    tr_runtime *rt = tu_runtime_new(2);
    assert_non_null(rt);
    tr_spawn_opts o = {.state_size = sizeof(keep_state), .lanes = g_lanes};
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &beh, &o, &ref), 0);
    sender s[KEEP_SENDERS];
    for (uint32_t i = 0; i < KEEP_SENDERS; i++) {
        s[i] = (sender){.to = ref, .id = i, .n = KEEP_PER_SENDER};
        assert_int_equal(pthread_create(&s[i].t, NULL, word_sender, &s[i]), 0);
    }
    for (int i = 0; i < KEEP_SENDERS; i++)
        pthread_join(s[i].t, NULL);
    const uint64_t total = (uint64_t)KEEP_SENDERS * KEEP_PER_SENDER;
    assert_true(tu_wait_ge(&received, total, TU_WAIT_MS));
    /* Everything arrived; what is held is freed (and checked) in terminate. */
    assert_int_equal(tu_load(&keep_freed), total / KEEP_EVERY - KEEP_HOLD);
    assert_int_equal(tr_actor_stop(ref), 0);
    assert_true(tu_wait_ge(&keep_terminated, 1, TU_WAIT_MS));
    tr_ref_release(ref);
    assert_int_equal(tr_runtime_free(rt), 0);

    assert_int_equal(tu_load(&send_errors), 0);
    assert_int_equal(tu_load(&received), total);
    assert_int_equal(tu_load(&order_errors), 0);
    assert_int_equal(tu_load(&keep_errors), 0);
    assert_int_equal(tu_load(&keep_kept), total / KEEP_EVERY);
    assert_int_equal(tu_load(&keep_freed), total / KEEP_EVERY);
    assert_int_equal(tu_load(&keep_corrupt), 0);
}

/* --- 7. an ask after sends ----------------------------------------------- */

#define ASK_THREADS 4
#define ASK_REPS 20
#define ASK_BIT 0x100u /* type of an ask: ASK_BIT | (thread + 1) */
static const uint64_t ask_ks[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 15, 16, 31, 64, 100, 1000};
#define N_ASK_KS (sizeof(ask_ks) / sizeof(ask_ks[0]))

static uint64_t ask_right, ask_wrong, ask_failed;

/* Counts words per thread; an ask is answered with the count, which then
 * starts again from 0. */
static int count_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    order_state *s = state; /* next[] counts words since the last ask */
    uint32_t from = (msg->type & 0xFFu) - 1;
    if (from >= ASK_THREADS) {
        tu_add(&order_errors, 1);
        return 0;
    }
    if (msg->type & ASK_BIT) {
        if (tr_reply_word(msg, 1, s->next[from]) != 0)
            tu_add(&payload_errors, 1);
        s->next[from] = 0;
    } else {
        check_order(s, from, msg->word);
    }
    return 0;
}

static void *ask_sender(void *arg) {
    sender *a = arg;
    for (int rep = 0; rep < ASK_REPS; rep++)
        for (size_t j = 0; j < N_ASK_KS; j++) {
            uint64_t k = ask_ks[(j + a->id * 3 + (size_t)rep) % N_ASK_KS];
            for (uint64_t i = 0; i < k; i++)
                if (tr_send_word(a->to, a->id + 1, i) != 0)
                    tu_add(&send_errors, 1);
            tr_future *f;
            if (tr_ask_word(a->to, ASK_BIT | (a->id + 1), k, &f) != 0) {
                tu_add(&ask_failed, 1);
                continue;
            }
            tr_msg *reply = NULL;
            if (tr_future_wait(f, TU_WAIT_MS, &reply) != 0) {
                tu_add(&ask_failed, 1);
            } else {
                tu_add(reply->word == k ? &ask_right : &ask_wrong, 1);
                tr_msg_free(reply);
            }
            tr_future_release(f);
        }
    return NULL;
}

static void an_ask_from_a_foreign_thread_arrives_after_its_earlier_sends(void **state) {
    (void)state;
    static const tr_behavior beh = {NULL, count_receive, NULL};
    static order_state st;
    memset(&st, 0, sizeof(st));
    reset_common();
    tu_store(&ask_right, 0);
    tu_store(&ask_wrong, 0);
    tu_store(&ask_failed, 0);
    tr_runtime *rt = tu_runtime_new(2);
    assert_non_null(rt);
    tr_spawn_opts o = {.arg = &st, .lanes = g_lanes};
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &beh, &o, &ref), 0);
    sender s[ASK_THREADS];
    for (uint32_t i = 0; i < ASK_THREADS; i++) {
        s[i] = (sender){.to = ref, .id = i};
        assert_int_equal(pthread_create(&s[i].t, NULL, ask_sender, &s[i]), 0);
    }
    for (int i = 0; i < ASK_THREADS; i++)
        pthread_join(s[i].t, NULL);
    tr_ref_release(ref);
    assert_int_equal(tr_runtime_free(rt), 0);

    assert_int_equal(tu_load(&send_errors), 0);
    assert_int_equal(tu_load(&ask_failed), 0);
    assert_int_equal(tu_load(&ask_wrong), 0);
    assert_int_equal(tu_load(&ask_right), (uint64_t)ASK_THREADS * ASK_REPS * N_ASK_KS);
    assert_int_equal(tu_load(&order_errors), 0);
    assert_int_equal(tu_load(&payload_errors), 0);
}

/* Every test runs twice: actors with one shared mailbox, and actors that
 * give their foreign senders lanes (tr_spawn_opts.lanes). */
static int with_mailbox(void **state) {
    (void)state;
    g_lanes = 0;
    return 0;
}

static int with_lanes(void **state) {
    (void)state;
    g_lanes = 1;
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mixed_send_calls_from_foreign_threads_arrive_in_per_sender_order),
        cmocka_unit_test(one_thread_spreading_sends_over_actors_keeps_per_actor_order),
        cmocka_unit_test(short_lived_sender_threads_lose_nothing),
        cmocka_unit_test(sends_racing_a_stop_are_delivered_or_dead_lettered_exactly_once),
        cmocka_unit_test(closing_the_runtime_while_foreign_threads_send_loses_nothing),
        cmocka_unit_test(a_kept_foreign_word_message_stays_intact_until_freed),
        cmocka_unit_test(an_ask_from_a_foreign_thread_arrives_after_its_earlier_sends),
    };
    int failed = cmocka_run_group_tests_name("shared mailbox", tests, with_mailbox, NULL);
    return failed + cmocka_run_group_tests_name("lanes", tests, with_lanes, NULL);
}
