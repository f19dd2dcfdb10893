/* examples/main_thread.c - an actor pinned to the main thread, serving
 * requests from actors on the worker threads.
 *
 *   main_thread [workers] [requests]
 *
 * Some libraries must be called from one thread only, usually the
 * program's main thread: GUI toolkits, OpenGL contexts, embedded
 * interpreters. Here a "gui" actor stands for such a library: it is spawned
 * with tr_spawn_opts.pin = TR_PIN_MAIN on a runtime with a main loop
 * (tr_runtime_config.main_loop), so it runs only on the thread that drives
 * that loop: main, inside tr_runtime_block_on. `workers` client actors
 * (default 4) run on the runtime's worker threads; each asks the gui
 * `requests` times (default 100) with tr_request (no thread ever blocks)
 * and reports its count to a collector, which settles a promise main waits
 * on. The gui checks every call's thread; the program ends with a checked
 * line. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <troupe.h>

enum { M_DRAW = 1, M_DONE = 2, M_GO = 3 };

static pthread_t main_thread;
static uint64_t gui_off_main = UINT64_MAX; /* set by the gui's terminate (on main) */

/* --- the gui: pinned to the main loop -------------------------------------- */

typedef struct gui {
    uint64_t drawn;
    uint64_t off_main; /* calls that ran on another thread: must stay 0 */
} gui;

static int gui_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    gui *g = state;
    if (msg->type != M_DRAW)
        return 0;
    if (!pthread_equal(pthread_self(), main_thread))
        g->off_main++;
    g->drawn++;
    /* The answer: the number of frames drawn so far. */
    return tr_reply_word(msg, M_DRAW, g->drawn);
}

static void gui_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    (void)why;
    gui *g = state;
    gui_off_main = g->off_main;
    printf("main_thread: gui drew %llu frames, %llu off the main thread\n",
           (unsigned long long)g->drawn, (unsigned long long)g->off_main);
}

static const tr_behavior gui_behavior = {NULL, gui_receive, gui_terminate};

/* --- the collector: settles main's promise when every client is done ---- */

typedef struct collector {
    tr_promise *promise;
    uint64_t clients_left;
    uint64_t answers;
} collector;

static int collector_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    collector *c = state;
    if (msg->type != M_DONE)
        return 0;
    c->answers += msg->word;
    if (--c->clients_left == 0) {
        tr_promise_reply_word(c->promise, M_DONE, c->answers);
        tr_promise_release(c->promise);
        c->promise = NULL;
    }
    return 0;
}

/* Ended before every client reported (a failed start): the promise is
 * dropped, and main's wait fails with TR_ENOREPLY. */
static void collector_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    (void)why;
    collector *c = state;
    if (c->promise != NULL)
        tr_promise_release(c->promise);
    c->promise = NULL;
}

static const tr_behavior collector_behavior = {NULL, collector_receive, collector_terminate};

/* --- the clients: on the worker threads ------------------------------------ */

typedef struct client {
    tr_ref *gui;       /* borrowed: main holds both until the end */
    tr_ref *collector; /* borrowed */
    uint64_t left;     /* requests still to make */
    uint64_t answers;
} client;

typedef struct client_arg {
    tr_ref *gui, *collector;
    uint64_t requests;
} client_arg;

static int client_init(tr_ctx *ctx, void *state, void *arg) {
    (void)ctx;
    client *c = state;
    const client_arg *a = arg;
    c->gui = a->gui;
    c->collector = a->collector;
    c->left = a->requests;
    return 0;
}

static int client_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    client *c = state;
    if (tr_msg_is_reply(msg))
        c->answers++;
    else if (msg->type != M_GO)
        return 0; /* a TR_MSG_ASK_FAILED: the gui is gone */
    if (c->left == 0)
        return tr_send_word(c->collector, M_DONE, c->answers) == 0 ? tr_stop(ctx) : 0;
    c->left--;
    /* One request at a time; the answer comes back as a message. */
    return tr_request_word(ctx, c->gui, M_DRAW, 0, c->left);
}

static const tr_behavior client_behavior = {client_init, client_receive, NULL};

int main(int argc, char **argv) {
    unsigned workers = argc > 1 ? (unsigned)atoi(argv[1]) : 4;
    uint64_t requests = argc > 2 ? (uint64_t)atoll(argv[2]) : 100;
    if (workers == 0)
        workers = 1;
    main_thread = pthread_self();

    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = 2;
    cfg.main_loop = 1; /* driven by main in tr_runtime_block_on below */
    tr_runtime *rt;
    int rc = tr_runtime_new(&rt, &cfg);
    if (rc != 0) {
        fprintf(stderr, "runtime: %s\n", tr_strerror(rc));
        return 1;
    }
    tr_ref *g = NULL, *col = NULL;
    tr_promise *p = NULL;
    tr_future *f = NULL;
    tr_spawn_opts go = {.state_size = sizeof(gui), .name = "gui", .pin = TR_PIN_MAIN};
    rc = tr_spawn(rt, &gui_behavior, &go, &g);
    if (rc == 0)
        rc = tr_promise_new(rt, &p, &f);
    collector cs = {p, workers, 0};
    tr_spawn_opts co = {.arg = &cs, .name = "collector"}; /* cs is the state */
    if (rc == 0)
        rc = tr_spawn(rt, &collector_behavior, &co, &col);
    client_arg ca = {g, col, requests};
    for (unsigned i = 0; rc == 0 && i < workers; i++) {
        tr_spawn_opts o = {.state_size = sizeof(client), .arg = &ca, .name = "client"};
        tr_ref *c;
        rc = tr_spawn(rt, &client_behavior, &o, &c);
        if (rc == 0) {
            rc = tr_send_word(c, M_GO, 0);
            tr_ref_release(c);
        }
    }
    uint64_t answers = 0;
    if (rc == 0) {
        /* Run the main loop (the gui's calls) here until the clients are done. */
        tr_msg *r = NULL;
        rc = tr_runtime_block_on(rt, f, 30000, &r);
        if (rc == 0) {
            answers = r->word;
            tr_msg_free(r);
        }
    } else if (p != NULL && col == NULL) {
        tr_promise_release(p); /* never handed to the collector */
    }
    if (f != NULL)
        tr_future_release(f);
    if (g != NULL)
        tr_ref_release(g);
    if (col != NULL)
        tr_ref_release(col);
    /* Free closes; the gui's end runs on this thread too (free drives the
     * main loop to the end). */
    tr_runtime_free(rt);
    if (rc != 0) {
        fprintf(stderr, "main_thread: %s\n", tr_strerror(rc));
        return 1;
    }
    int ok = answers == (uint64_t)workers * requests && gui_off_main == 0;
    printf("main_thread: %u clients x %llu requests, %llu answered on the main thread: %s\n",
           workers, (unsigned long long)requests, (unsigned long long)answers,
           ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
