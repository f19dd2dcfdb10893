/* tests/test_log.c - reports: crash reports, summaries, levels, the hook.
 *
 * A capturing logger copies every record it is given into `cap` (under a
 * mutex: the hook runs on workers, on the thread in tr_spawn and on the
 * one in tr_runtime_free); each test makes one thing go wrong and checks
 * what was reported, and how often. The default reporter's line is checked
 * in a forked child whose stderr is a file. */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

enum { WORK = 1, FAIL = 7, PANIC = 8, HOLD = 9 };

/* --- the capturing logger ------------------------------------------------- */

#define CAP_MAX 4096

typedef struct rec {
    tr_log_level level;
    char subsystem[16];
    char text[640];
    uint64_t actor_id;
    char name[64];
    int has_name;
    int crash;
    char phase[16];
    int exit_code;
    char exit_text[96];
    int has_msg_type;
    uint32_t msg_type;
    char supervisor[48];
    uint32_t restarts;
} rec;

static pthread_mutex_t cap_mu = PTHREAD_MUTEX_INITIALIZER;
static rec cap[CAP_MAX];
static uint64_t ncap; /* tu_load: read by the test thread while hooks run */

static void capture(void *ud, const tr_log_record *r) {
    (void)ud;
    pthread_mutex_lock(&cap_mu);
    uint64_t i = tu_load(&ncap);
    if (i < CAP_MAX) {
        rec *c = &cap[i];
        memset(c, 0, sizeof(*c));
        c->level = r->level;
        snprintf(c->subsystem, sizeof(c->subsystem), "%s", r->subsystem);
        snprintf(c->text, sizeof(c->text), "%s", r->text);
        c->actor_id = r->actor_id;
        c->has_name = r->actor_name != NULL;
        snprintf(c->name, sizeof(c->name), "%s", r->actor_name ? r->actor_name : "");
        c->crash = r->crash;
        snprintf(c->phase, sizeof(c->phase), "%s", r->phase ? r->phase : "");
        c->exit_code = r->exit_code;
        snprintf(c->exit_text, sizeof(c->exit_text), "%s", r->exit_text ? r->exit_text : "");
        c->has_msg_type = r->has_msg_type;
        c->msg_type = r->msg_type;
        snprintf(c->supervisor, sizeof(c->supervisor), "%s", r->supervisor ? r->supervisor : "");
        c->restarts = r->restarts;
    }
    tu_store(&ncap, i + 1);
    pthread_mutex_unlock(&cap_mu);
}

static void cap_reset(void) {
    pthread_mutex_lock(&cap_mu);
    tu_store(&ncap, 0);
    pthread_mutex_unlock(&cap_mu);
}

/* Records whose subsystem is `sub` (NULL: any) and text contains `has`
 * (NULL: any); crash_only counts crash reports only. */
static unsigned cap_count(const char *sub, const char *has, int crash_only) {
    unsigned n = 0;
    pthread_mutex_lock(&cap_mu);
    uint64_t m = tu_load(&ncap);
    for (uint64_t i = 0; i < m && i < CAP_MAX; i++) {
        if (sub != NULL && strcmp(cap[i].subsystem, sub) != 0)
            continue;
        if (has != NULL && strstr(cap[i].text, has) == NULL)
            continue;
        if (crash_only && !cap[i].crash)
            continue;
        n++;
    }
    pthread_mutex_unlock(&cap_mu);
    return n;
}

/* A copy of the first record matching, 1 if found. */
static int cap_find(const char *sub, const char *has, int crash_only, rec *out) {
    int found = 0;
    pthread_mutex_lock(&cap_mu);
    uint64_t m = tu_load(&ncap);
    for (uint64_t i = 0; i < m && i < CAP_MAX && !found; i++) {
        if (sub != NULL && strcmp(cap[i].subsystem, sub) != 0)
            continue;
        if (has != NULL && strstr(cap[i].text, has) == NULL)
            continue;
        if (crash_only && !cap[i].crash)
            continue;
        *out = cap[i];
        found = 1;
    }
    pthread_mutex_unlock(&cap_mu);
    return found;
}

typedef struct wait_arg {
    const char *sub, *has;
    int crash_only;
    unsigned n;
} wait_arg;

static int enough(void *arg) {
    wait_arg *w = arg;
    return cap_count(w->sub, w->has, w->crash_only) >= w->n;
}

static int cap_wait(const char *sub, const char *has, int crash_only, unsigned n) {
    wait_arg w = {sub, has, crash_only, n};
    return tu_wait_until(enough, &w, TU_WAIT_MS);
}

static tr_runtime *rt_new(unsigned workers, tr_log_level level) {
    cap_reset();
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = workers;
    cfg.keep_open = 1; /* actors come and go between the steps */
    cfg.log_level = level;
    cfg.log_fn = capture;
    tr_runtime *rt = NULL;
    assert_int_equal(tr_runtime_new(&rt, &cfg), 0);
    return rt;
}

/* --- actors --------------------------------------------------------------- */

static uint64_t hold_open;

static int victim_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    switch (msg->type) {
    case FAIL:
        return -42;
    case PANIC:
        tr_panic(ctx, TR_EINVAL, "boom 123");
    case HOLD: /* keep the mailbox filling, then stop: what is queued is dead */
        while (!tu_load(&hold_open))
            tu_sleep_ms(1);
        tr_stop(ctx);
        return 0;
    default:
        return 0;
    }
}

static const tr_behavior victim = {.receive = victim_receive};

static tr_ref *spawn_named(tr_runtime *rt, const char *name) {
    tr_spawn_opts o = {.name = name};
    tr_ref *ref = NULL;
    assert_int_equal(tr_spawn(rt, &victim, &o, &ref), 0);
    return ref;
}

/* --- crash reports --------------------------------------------------------- */

static void handler_error_gives_one_crash_report(void **state) {
    (void)state;
    tr_runtime *rt = rt_new(2, TR_LOG_DEFAULT);
    tr_ref *v = spawn_named(rt, "victim");
    assert_int_equal(tr_send_word(v, FAIL, 0), 0);
    assert_true(cap_wait("actor", NULL, 1, 1));
    assert_true(tu_wait_alive(rt, 0, TU_WAIT_MS));
    rec r;
    assert_true(cap_find("actor", NULL, 1, &r));
    assert_int_equal(cap_count(NULL, NULL, 1), 1);
    assert_int_equal(r.level, TR_LOG_ERROR);
    assert_string_equal(r.name, "victim");
    assert_int_equal(r.actor_id, tr_ref_id(v));
    assert_string_equal(r.phase, "receive");
    assert_int_equal(r.exit_code, -42);
    assert_int_equal(r.has_msg_type, 1);
    assert_int_equal(r.msg_type, FAIL);
    assert_non_null(strstr(r.text, "-42"));
    assert_non_null(strstr(r.text, "message type 7"));
    tr_ref_release(v);
    assert_int_equal(tr_runtime_free(rt), 0);
}

static void panic_text_is_in_the_report(void **state) {
    (void)state;
    tr_runtime *rt = rt_new(2, TR_LOG_DEFAULT);
    tr_ref *v = spawn_named(rt, "panicker");
    assert_int_equal(tr_send_word(v, PANIC, 0), 0);
    assert_true(cap_wait("actor", "boom 123", 1, 1));
    rec r;
    assert_true(cap_find("actor", "boom 123", 1, &r));
    assert_string_equal(r.phase, "panic");
    assert_string_equal(r.exit_text, "boom 123");
    assert_int_equal(r.exit_code, TR_EINVAL);
    assert_int_equal(r.msg_type, PANIC);
    assert_string_equal(r.name, "panicker");
    assert_non_null(strstr(r.text, "TR_EINVAL"));
    tr_ref_release(v);
    assert_int_equal(tr_runtime_free(rt), 0);
}

static int failing_init(tr_ctx *ctx, void *state, void *arg) {
    (void)state;
    (void)arg;
    tr_panic(ctx, TR_ENOMEM, "no table");
}

static void panic_in_init_is_reported(void **state) {
    (void)state;
    tr_runtime *rt = rt_new(1, TR_LOG_DEFAULT);
    tr_behavior b = {.init = failing_init, .receive = victim_receive};
    tr_spawn_opts o = {.name = "starter"};
    assert_int_equal(tr_spawn(rt, &b, &o, NULL), TR_ENOMEM);
    rec r;
    assert_true(cap_find("actor", "no table", 1, &r));
    assert_string_equal(r.phase, "init");
    assert_string_equal(r.name, "starter");
    assert_int_equal(r.has_msg_type, 0);
    assert_int_equal(tr_runtime_free(rt), 0);
}

/* Crashes beyond 3 a second are summarised; at debug each is reported. */
static void crash_floods_are_summarised(void **state) {
    (void)state;
    enum { N = 40 };
    for (int debug = 0; debug < 2; debug++) {
        tr_runtime *rt = rt_new(2, debug ? TR_LOG_DEBUG : TR_LOG_DEFAULT);
        for (int i = 0; i < N; i++) {
            tr_ref *v = spawn_named(rt, "flaky");
            assert_int_equal(tr_send_word(v, FAIL, 0), 0);
            tr_ref_release(v);
        }
        assert_true(tu_wait_alive(rt, 0, TU_WAIT_MS));
        assert_int_equal(tr_runtime_free(rt), 0); /* flushes the summary */
        unsigned full = cap_count("actor", "crashed", 1);
        if (debug) {
            assert_int_equal(full, N);
        } else {
            assert_true(full >= 3 && full < N);
            /* every crash is in a full report or counted in a summary */
            unsigned summarised = 0;
            pthread_mutex_lock(&cap_mu);
            for (uint64_t i = 0; i < tu_load(&ncap); i++) {
                const char *p = strstr(cap[i].text, "flaky x ");
                if (!cap[i].crash && p != NULL)
                    summarised += (unsigned)atoi(p + 8);
            }
            pthread_mutex_unlock(&cap_mu);
            assert_int_equal(full + summarised, N);
        }
    }
}

/* --- supervisors -------------------------------------------------------------- */

/* Make the supervisor's one child crash (if it runs). */
static void crash_child(tr_ref *sup) {
    tr_child_info info[2];
    size_t n = 0;
    assert_int_equal(tr_sup_which_children(sup, info, 2, &n), 0);
    if (n == 1 && info[0].ref != NULL)
        assert_int_equal(tr_send_word(info[0].ref, FAIL, 0), 0);
    tr_sup_children_release(info, n);
}

static void supervisor_give_up_and_child_names(void **state) {
    (void)state;
    tr_runtime *rt = rt_new(2, TR_LOG_INFO);
    tr_child_spec kid = {.id = "kid", .behavior = &victim, .restart = TR_CHILD_PERMANENT};
    tr_sup_config sc;
    tr_sup_config_init(&sc);
    sc.intensity = 2;
    sc.period_ms = 60000;
    sc.children = &kid;
    sc.nchildren = 1;
    sc.name = "top";
    tr_ref *sup = NULL;
    assert_int_equal(tr_sup_start(rt, &sc, &sup), 0);
    /* Crash the child until the supervisor gives up (3 crashes > 2). */
    for (unsigned i = 0; i < 3; i++) {
        /* the child restarted before (or is the first) */
        assert_true(i == 0 || cap_wait("sup", "restarted by", 0, i));
        crash_child(sup);
        assert_true(cap_wait("actor", NULL, 1, i + 1));
    }
    assert_true(cap_wait("sup", "gives up", 0, 1));
    rec r;
    assert_true(cap_find("sup", "gives up", 0, &r));
    assert_int_equal(r.level, TR_LOG_ERROR);
    assert_non_null(strstr(r.text, "\"top\""));
    assert_non_null(strstr(r.text, "more than 2 restarts"));
    /* The crash reports name the child and its supervisor. */
    assert_true(cap_find("actor", NULL, 1, &r));
    assert_string_equal(r.name, "top/kid");
    assert_string_equal(r.supervisor, "top");
    assert_int_equal(r.restarts, 0);
    unsigned restarted = cap_count("sup", "restarted by sup \"top\"", 0);
    assert_int_equal(restarted, 2);
    pthread_mutex_lock(&cap_mu);
    uint32_t max_restarts = 0;
    for (uint64_t i = 0; i < tu_load(&ncap); i++)
        if (cap[i].crash && cap[i].restarts > max_restarts)
            max_restarts = cap[i].restarts;
    pthread_mutex_unlock(&cap_mu);
    assert_int_equal(max_restarts, 2);
    tr_ref_release(sup);
    assert_int_equal(tr_runtime_free(rt), 0);
}

/* Restart storms warn once: a child restarted more than 10 times in 10 s. */
static void restart_storm_warns_once(void **state) {
    (void)state;
    tr_runtime *rt = rt_new(2, TR_LOG_DEFAULT);
    tr_child_spec kid = {.id = "flap", .behavior = &victim, .restart = TR_CHILD_PERMANENT};
    tr_sup_config sc;
    tr_sup_config_init(&sc);
    sc.intensity = TR_SUP_UNLIMITED;
    sc.children = &kid;
    sc.nchildren = 1;
    sc.name = "storm";
    tr_ref *sup = NULL;
    assert_int_equal(tr_sup_start(rt, &sc, &sup), 0);
    for (unsigned i = 0; i < 14; i++) {
        uint64_t before = 0;
        tr_sup_stats st;
        assert_int_equal(tr_sup_stats_get(sup, &st), 0);
        before = st.restarts;
        crash_child(sup);
        int64_t end = tu_now_ms() + TU_WAIT_MS;
        while (tu_now_ms() < end) {
            assert_int_equal(tr_sup_stats_get(sup, &st), 0);
            if (st.restarts > before)
                break;
            tu_sleep_ms(1);
        }
    }
    rec r;
    assert_int_equal(cap_count("sup", "restart storm", 0), 1);
    assert_true(cap_find("sup", "restart storm", 0, &r));
    assert_int_equal(r.level, TR_LOG_WARN);
    assert_non_null(strstr(r.text, "\"storm\" made 11 restarts"));
    assert_non_null(strstr(r.text, "storm/flap"));
    /* info is off at the default level: no per-restart records */
    assert_int_equal(cap_count("sup", "restarted by", 0), 0);
    tr_ref_release(sup);
    assert_int_equal(tr_runtime_free(rt), 0);
}

/* --- dead letters ------------------------------------------------------------- */

static uint64_t dl_calls, dl_targeted;
static uint64_t dl_expect_id;

static void on_dead(void *ud, const tr_msg *msg, int why) {
    (void)ud;
    (void)why;
    tu_add(&dl_calls, 1);
    tr_ref *t = tr_dead_letter_target(msg);
    char name[32];
    if (t != NULL && tr_ref_id(t) == tu_load(&dl_expect_id) &&
        tr_ref_name(t, name, sizeof(name)) == 4 && strcmp(name, "sink") == 0)
        tu_add(&dl_targeted, 1);
}

static void dead_letter_burst_is_one_summary(void **state) {
    (void)state;
    enum { N = 1000 };
    cap_reset();
    tu_store(&dl_calls, 0);
    tu_store(&dl_targeted, 0);
    tu_store(&hold_open, 0);
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = 2;
    cfg.keep_open = 1;
    cfg.log_fn = capture;
    cfg.dead_letter = on_dead;
    tr_runtime *rt = NULL;
    assert_int_equal(tr_runtime_new(&rt, &cfg), 0);
    tr_ref *sink = spawn_named(rt, "sink");
    tu_store(&dl_expect_id, tr_ref_id(sink));
    assert_int_equal(tr_send_word(sink, HOLD, 0), 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(tr_send_word(sink, WORK, (uint64_t)i), 0);
    tu_store(&hold_open, 1);
    assert_true(tu_wait_ge(&dl_calls, N, TU_WAIT_MS));
    /* The summary comes by itself, about a second after the first. */
    assert_true(cap_wait("deadletter", NULL, 0, 1));
    assert_int_equal(tu_load(&dl_targeted), N);
    tr_ref_release(sink);
    assert_int_equal(tr_runtime_free(rt), 0);
    unsigned lines = cap_count("deadletter", NULL, 0);
    assert_true(lines >= 1 && lines <= 2);
    char want[64];
    snprintf(want, sizeof(want), "sink#%llu (stopped) x ",
             (unsigned long long)tu_load(&dl_expect_id));
    unsigned total = 0;
    pthread_mutex_lock(&cap_mu);
    for (uint64_t i = 0; i < tu_load(&ncap); i++) {
        const char *p = strstr(cap[i].text, want);
        if (strcmp(cap[i].subsystem, "deadletter") == 0 && p != NULL) {
            total += (unsigned)atoi(p + strlen(want));
            assert_int_equal(cap[i].level, TR_LOG_WARN);
        }
    }
    pthread_mutex_unlock(&cap_mu);
    assert_int_equal(total, N);
}

/* A linked actor that ends because its partner crashed: one crash report
 * (the partner's), and an info record for the linked one. */
static int linker_init(tr_ctx *ctx, void *state, void *arg) {
    (void)state;
    return tr_link(ctx, arg);
}

static void linked_exit_is_info_not_a_second_crash(void **state) {
    (void)state;
    for (int info = 0; info < 2; info++) {
        tr_runtime *rt = rt_new(2, info ? TR_LOG_INFO : TR_LOG_DEFAULT);
        tr_ref *v = spawn_named(rt, "first");
        tr_behavior lb = {.init = linker_init, .receive = victim_receive};
        tr_spawn_opts o = {.name = "second", .arg = v};
        tr_ref *l = NULL;
        assert_int_equal(tr_spawn(rt, &lb, &o, &l), 0);
        assert_int_equal(tr_send_word(v, FAIL, 0), 0);
        assert_true(tu_wait_alive(rt, 0, TU_WAIT_MS));
        rec r;
        assert_true(cap_find("actor", NULL, 1, &r));
        assert_string_equal(r.name, "first");
        if (info) {
            assert_true(cap_wait("actor", "exited with error", 1, 1));
            assert_true(cap_find("actor", "exited with error", 1, &r));
            assert_string_equal(r.name, "second");
            assert_string_equal(r.phase, "exit");
            assert_int_equal(r.level, TR_LOG_INFO);
            assert_int_equal(cap_count("actor", NULL, 1), 2);
        } else {
            assert_int_equal(cap_count("actor", NULL, 1), 1);
        }
        tr_ref_release(v);
        tr_ref_release(l);
        assert_int_equal(tr_runtime_free(rt), 0);
    }
}

/* --- handles at free ------------------------------------------------------------ */

static void handles_held_at_free_are_named(void **state) {
    (void)state;
    tr_runtime *rt = rt_new(1, TR_LOG_DEFAULT);
    tr_ref *kept = spawn_named(rt, "kept");
    uint64_t id = tr_ref_id(kept);
    assert_int_equal(tr_actor_stop(kept), 0);
    assert_true(tu_wait_alive(rt, 0, TU_WAIT_MS));
    assert_int_equal(tr_runtime_free(rt), 0); /* kept is still held */
    rec r;
    assert_true(cap_find("runtime", "still held", 0, &r));
    assert_int_equal(r.level, TR_LOG_WARN);
    char want[48];
    snprintf(want, sizeof(want), "kept#%llu", (unsigned long long)id);
    assert_non_null(strstr(r.text, want));
    assert_non_null(strstr(r.text, "1 actor handle still held"));
}

static void no_report_when_handles_released(void **state) {
    (void)state;
    tr_runtime *rt = rt_new(1, TR_LOG_DEFAULT);
    tr_ref *v = spawn_named(rt, "fine");
    tr_ref_release(v);
    assert_int_equal(tr_runtime_free(rt), 0);
    assert_int_equal(cap_count(NULL, NULL, 0), 0);
}

/* --- levels ------------------------------------------------------------------------ */

static void troupe_log_off_silences(void **state) {
    (void)state;
    setenv("TROUPE_LOG", "off", 1);
    tr_runtime *rt = rt_new(1, TR_LOG_DEBUG); /* the environment wins */
    unsetenv("TROUPE_LOG");
    assert_int_equal(tr_runtime_log_level(rt), TR_LOG_OFF);
    tr_ref *v = spawn_named(rt, "quiet");
    assert_int_equal(tr_send_word(v, FAIL, 0), 0);
    assert_true(tu_wait_alive(rt, 0, TU_WAIT_MS));
    assert_int_equal(tr_runtime_free(rt), 0); /* v held: would warn */
    assert_int_equal(cap_count(NULL, NULL, 0), 0);
}

static void troupe_log_debug_and_bad_values(void **state) {
    (void)state;
    setenv("TROUPE_LOG", "DEBUG", 1);
    tr_runtime *rt = rt_new(1, TR_LOG_ERROR);
    assert_int_equal(tr_runtime_log_level(rt), TR_LOG_DEBUG);
    assert_int_equal(tr_runtime_free(rt), 0);
    setenv("TROUPE_LOG", "loud", 1);
    rt = rt_new(1, TR_LOG_ERROR); /* not understood: the config's level, and a warning */
    unsetenv("TROUPE_LOG");
    assert_int_equal(tr_runtime_log_level(rt), TR_LOG_ERROR);
    assert_int_equal(cap_count("runtime", "TROUPE_LOG=loud", 0), 1);
    assert_int_equal(tr_runtime_free(rt), 0);
}

static void level_filters_records(void **state) {
    (void)state;
    tr_runtime *rt = rt_new(1, TR_LOG_ERROR);
    assert_int_equal(tr_runtime_log_level(rt), TR_LOG_ERROR);
    tr_ref *v = spawn_named(rt, "filtered");
    assert_int_equal(tr_send_word(v, WORK, 0), 0);
    assert_int_equal(tr_actor_stop(v), 0);
    assert_true(tu_wait_alive(rt, 0, TU_WAIT_MS));
    /* Held at free (a warning): filtered out at error. */
    assert_int_equal(tr_runtime_free(rt), 0);
    assert_int_equal(cap_count(NULL, NULL, 0), 0);

    rt = rt_new(1, TR_LOG_DEFAULT);
    assert_int_equal(tr_runtime_log_level(rt), TR_LOG_WARN);
    assert_int_equal(tr_runtime_set_log_level(rt, TR_LOG_OFF), 0);
    v = spawn_named(rt, "silenced");
    assert_int_equal(tr_send_word(v, FAIL, 0), 0);
    assert_true(tu_wait_alive(rt, 0, TU_WAIT_MS));
    assert_int_equal(cap_count(NULL, NULL, 0), 0);
    assert_int_equal(tr_runtime_set_log_level(rt, TR_LOG_DEFAULT), 0);
    assert_int_equal(tr_runtime_log_level(rt), TR_LOG_WARN);
    assert_int_equal(tr_runtime_set_log_level(rt, (tr_log_level)99), TR_EINVAL);
    assert_int_equal(tr_runtime_set_log_level(NULL, TR_LOG_WARN), TR_EINVAL);
    tr_ref_release(v);
    assert_int_equal(tr_runtime_free(rt), 0);
    assert_int_equal(cap_count(NULL, NULL, 0), 0);
}

/* --- the hook ------------------------------------------------------------------------ */

static uint64_t in_a, in_b, calls_a, calls_b, late_a;
static uint64_t hook_rc;

static void hook_a(void *ud, const tr_log_record *r) {
    (void)r;
    tu_add(&in_a, 1);
    tu_add(&calls_a, 1);
    if (ud != NULL) /* the runtime: switching from inside must be refused */
        tu_store(&hook_rc, (uint64_t)(int64_t)tr_runtime_set_logger(ud, hook_a, NULL));
    tu_add(&in_a, (uint64_t)-1);
}

static void hook_b(void *ud, const tr_log_record *r) {
    (void)ud;
    (void)r;
    tu_add(&in_b, 1);
    tu_add(&calls_b, 1);
    tu_add(&in_b, (uint64_t)-1);
}

static uint64_t stop_crashing;

/* Crash actors until told to stop. */
static void *crasher_thread(void *arg) {
    tr_runtime *rt = arg;
    while (!tu_load(&stop_crashing)) {
        tr_ref *v;
        tr_spawn_opts o = {.name = "churn"};
        if (tr_spawn(rt, &victim, &o, &v) == 0) {
            tr_send_word(v, FAIL, 0);
            tr_ref_release(v);
        }
        tu_sleep_ms(1);
    }
    return NULL;
}

/* When tr_runtime_set_logger returns, the old hook runs nowhere. */
static void set_logger_waits_for_the_old_hook(void **state) {
    (void)state;
    tr_runtime *rt = rt_new(2, TR_LOG_DEBUG);
    tu_store(&in_a, 0);
    tu_store(&in_b, 0);
    tu_store(&late_a, 0);
    tu_store(&stop_crashing, 0);
    assert_int_equal(tr_runtime_set_logger(rt, hook_a, NULL), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, crasher_thread, rt), 0);
    for (int i = 0; i < 200; i++) {
        assert_int_equal(tr_runtime_set_logger(rt, hook_b, NULL), 0);
        if (tu_load(&in_a) != 0)
            tu_add(&late_a, 1);
        assert_int_equal(tr_runtime_set_logger(rt, hook_a, NULL), 0);
        if (tu_load(&in_b) != 0)
            tu_add(&late_a, 1);
    }
    /* The crashes were reported to the two hooks (and keep being so). */
    assert_true(tu_wait_ge(&calls_a, 1, TU_WAIT_MS));
    tu_store(&stop_crashing, 1);
    pthread_join(th, NULL);
    assert_true(tu_wait_alive(rt, 0, TU_WAIT_MS));
    assert_int_equal(tu_load(&late_a), 0);
    /* From inside a hook: TR_EDEADLK. */
    tu_store(&hook_rc, 1);
    assert_int_equal(tr_runtime_set_logger(rt, hook_a, rt), 0);
    tr_ref *v = spawn_named(rt, "last");
    assert_int_equal(tr_send_word(v, FAIL, 0), 0);
    assert_true(tu_wait_alive(rt, 0, TU_WAIT_MS));
    assert_int_equal((int64_t)tu_load(&hook_rc), TR_EDEADLK);
    assert_int_equal(tr_runtime_set_logger(rt, NULL, NULL), 0); /* back to stderr */
    assert_int_equal(tr_runtime_set_logger(NULL, NULL, NULL), TR_EINVAL);
    tr_ref_release(v);
    assert_int_equal(tr_runtime_set_log_level(rt, TR_LOG_OFF), 0);
    assert_int_equal(tr_runtime_free(rt), 0);
}

/* --- names -------------------------------------------------------------------------- */

static void names_of_pool_workers_and_children(void **state) {
    (void)state;
    tr_runtime *rt = rt_new(2, TR_LOG_DEFAULT);
    tr_pool_config pc;
    tr_pool_config_init(&pc);
    pc.workers = 2;
    pc.behavior = &victim;
    pc.name = "pp";
    pc.max_redeliveries = 0;
    tr_ref *pool = NULL;
    assert_int_equal(tr_pool_start(rt, &pc, &pool), 0);
    char buf[32];
    assert_int_equal(tr_ref_name(pool, buf, sizeof(buf)), 2);
    assert_string_equal(buf, "pp");
    /* A crashing job: the report names the worker "pp[slot]", the pool,
     * and the job's type; with no redeliveries the job is dropped. */
    assert_int_equal(tr_send_word(pool, FAIL, 0), 0);
    assert_true(cap_wait("actor", NULL, 1, 1));
    rec r;
    assert_true(cap_find("actor", NULL, 1, &r));
    assert_true(strcmp(r.name, "pp[0]") == 0 || strcmp(r.name, "pp[1]") == 0);
    assert_string_equal(r.supervisor, "pp");
    assert_int_equal(r.msg_type, FAIL);
    assert_true(cap_wait("pool", "dead-letters a job", 0, 1));
    /* ... and the dead-letter summary names the pool as its target. */
    assert_true(cap_wait("deadletter", "pp#", 0, 1));
    assert_true(cap_find("deadletter", "pp#", 0, &r));
    assert_non_null(strstr(r.text, "(dropped) x 1"));
    tr_pool_release(pool);
    /* Truncation and arguments. */
    tr_ref *v = spawn_named(rt, "a-long-name");
    assert_int_equal(tr_ref_name(v, buf, 4), 11);
    assert_string_equal(buf, "a-l");
    assert_int_equal(tr_ref_name(v, NULL, 0), 11);
    assert_int_equal(tr_ref_name(v, NULL, 4), TR_EINVAL);
    assert_int_equal(tr_ref_name(NULL, buf, sizeof(buf)), TR_EINVAL);
    tr_ref *anon = NULL;
    assert_int_equal(tr_spawn(rt, &victim, NULL, &anon), 0);
    assert_int_equal(tr_ref_name(anon, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");
    assert_null(tr_dead_letter_target(NULL));
    tr_ref_release(v);
    tr_ref_release(anon);
    assert_int_equal(tr_runtime_free(rt), 0);
}

/* --- the default reporter ------------------------------------------------------------ */

static void default_reporter_line_format(void **state) {
    (void)state;
    char path[] = "/tmp/troupe-test-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fd, 2);
        tr_log_record r;
        memset(&r, 0, sizeof(r));
        r.level = TR_LOG_ERROR;
        r.subsystem = "actor";
        r.text = "hello";
        r.actor_id = 5;
        r.actor_name = "w";
        r.time_ns = 1500000000ull * 1000000000ull + 123456789ull;
        tr_log_stderr(NULL, &r);
        r.actor_id = 0;
        r.level = TR_LOG_WARN;
        r.subsystem = "runtime";
        tr_log_stderr(NULL, &r);
        /* A runtime with the default reporter. */
        tr_runtime *rt = NULL;
        if (tr_runtime_new(&rt, NULL) != 0)
            _exit(2);
        tr_spawn_opts o = {.name = "crasher"};
        tr_ref *v = NULL;
        if (tr_spawn(rt, &victim, &o, &v) != 0 || tr_send_word(v, FAIL, 0) != 0)
            _exit(3);
        while (tr_ref_is_alive(v) == 1) /* crashed, not stopped by the free */
            tu_sleep_ms(1);
        tr_ref_release(v);
        tr_runtime_free(rt);
        _exit(0);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char buf[2048] = "";
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    close(fd);
    unlink(path);
    assert_true(n > 0);
    buf[n] = '\0';
    const char *want = "2017-07-14T02:40:00.123Z ERROR actor w#5: hello\n"
                       "2017-07-14T02:40:00.123Z WARN  runtime: hello\n";
    assert_memory_equal(buf, want, strlen(want));
    const char *third = buf + strlen(want);
    /* 2026-12-06T17:05:41.600Z ERROR actor crasher#1024: crashed: ... */
    assert_int_equal(strlen(third) > 25, 1);
    assert_int_equal(third[4], '-');
    assert_int_equal(third[10], 'T');
    assert_int_equal(third[23], 'Z');
    assert_non_null(strstr(third, " ERROR actor crasher#"));
    assert_non_null(strstr(third, ": crashed: its handler returned -42"));
    assert_non_null(strchr(third, '\n'));
    /* tr_log_format: arguments, and the length of a cut line. */
    tr_log_record r;
    memset(&r, 0, sizeof(r));
    r.level = TR_LOG_INFO;
    r.subsystem = "x";
    r.text = "t";
    char small[8];
    assert_int_equal(tr_log_format(&r, small, sizeof(small)),
                     (int)strlen("1970-01-01T00:00:00.000Z INFO  x: t"));
    assert_int_equal(tr_log_format(NULL, small, sizeof(small)), TR_EINVAL);
    assert_int_equal(tr_log_format(&r, NULL, 4), TR_EINVAL);
    assert_string_equal(tr_log_level_name(TR_LOG_WARN), "warn");
    assert_string_equal(tr_log_level_name((tr_log_level)42), "?");
}

int main(void) {
    /* Reports here go to the capturing logger; a TROUPE_LOG in the
     * environment of the test run would change the levels under test. */
    unsetenv("TROUPE_LOG");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(handler_error_gives_one_crash_report),
        cmocka_unit_test(panic_text_is_in_the_report),
        cmocka_unit_test(panic_in_init_is_reported),
        cmocka_unit_test(crash_floods_are_summarised),
        cmocka_unit_test(supervisor_give_up_and_child_names),
        cmocka_unit_test(restart_storm_warns_once),
        cmocka_unit_test(dead_letter_burst_is_one_summary),
        cmocka_unit_test(linked_exit_is_info_not_a_second_crash),
        cmocka_unit_test(handles_held_at_free_are_named),
        cmocka_unit_test(no_report_when_handles_released),
        cmocka_unit_test(troupe_log_off_silences),
        cmocka_unit_test(troupe_log_debug_and_bad_values),
        cmocka_unit_test(level_filters_records),
        cmocka_unit_test(set_logger_waits_for_the_old_hook),
        cmocka_unit_test(names_of_pool_workers_and_children),
        cmocka_unit_test(default_reporter_line_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
