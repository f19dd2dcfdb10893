/* tests/support/console_app.c - the console tests' known system
 * (console_app.h). */
#include "support/console_app.h"

#include <sched.h>
#include <stddef.h>
#include <string.h>

#include "support/testutil.h"

static uint64_t holding, hold_go;

static int echo_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    if (msg->type == CONSOLE_APP_HOLD) {
        tu_store(&holding, 1);
        while (!tu_load(&hold_go))
            sched_yield();
        return 0;
    }
    if (tr_msg_wants_reply(msg))
        return tr_reply(msg, msg->type, NULL, 0);
    return 0;
}

static const tr_behavior echo = {.receive = echo_receive};

static tr_pool_config pool_cfg;
static tr_child_spec specs[4];
static tr_sup_config sup_cfg;

int console_app_start(tr_runtime *rt, console_app *app) {
    static const char *names[3] = {"alpha", "beta", "gamma"};
    memset(specs, 0, sizeof(specs));
    for (int i = 0; i < 3; i++) {
        specs[i].id = names[i];
        specs[i].behavior = &echo;
        specs[i].opts.name = names[i];
        specs[i].restart = TR_CHILD_PERMANENT;
    }
    tr_pool_config_init(&pool_cfg);
    pool_cfg.workers = CONSOLE_APP_POOL_WORKERS;
    pool_cfg.behavior = &echo;
    pool_cfg.name = "jobs";
    specs[3].id = "jobs";
    specs[3].start = tr_pool_start_as_child;
    specs[3].arg = &pool_cfg;
    specs[3].restart = TR_CHILD_PERMANENT;
    tr_sup_config_init(&sup_cfg);
    sup_cfg.children = specs;
    sup_cfg.nchildren = 4;
    sup_cfg.name = "app";
    return tr_sup_start(rt, &sup_cfg, &app->sup);
}

tr_ref *console_app_child(console_app *app, const char *id) {
    tr_child_info info[8];
    size_t n = 0;
    if (tr_sup_which_children(app->sup, info, 8, &n) != 0)
        return NULL;
    tr_ref *found = NULL;
    for (size_t i = 0; i < n && i < 8; i++) {
        if (found == NULL && info[i].id != NULL && strcmp(info[i].id, id) == 0)
            found = info[i].ref;
        else
            tr_ref_release(info[i].ref);
    }
    return found;
}

int console_app_ping(console_app *app, int timeout_ms) {
    tr_ref *alpha = console_app_child(app, "alpha");
    if (alpha == NULL)
        return TR_ENOTFOUND;
    tr_future *f;
    int rc = tr_ask(alpha, 7, NULL, 0, &f);
    tr_ref_release(alpha);
    if (rc != 0)
        return rc;
    tr_msg *reply = NULL;
    rc = tr_future_wait(f, timeout_ms, &reply);
    if (rc == 0)
        tr_msg_free(reply);
    tr_future_release(f);
    return rc;
}

int console_app_dead_letters(console_app *app, unsigned n, int timeout_ms) {
    tr_ref *gamma = console_app_child(app, "gamma");
    if (gamma == NULL)
        return TR_ENOTFOUND;
    tu_store(&holding, 0);
    tu_store(&hold_go, 0);
    int rc = tr_send_word(gamma, CONSOLE_APP_HOLD, 0);
    if (rc == 0 && !tu_wait_ge(&holding, 1, timeout_ms))
        rc = TR_ETIMEDOUT;
    for (unsigned i = 0; rc == 0 && i < n; i++)
        rc = tr_send_word(gamma, 1, i);
    if (rc == 0)
        rc = tr_actor_stop(gamma); /* ends after the held message: n left queued */
    tu_store(&hold_go, 1);
    tr_ref_release(gamma);
    return rc;
}

void console_app_stop(console_app *app) {
    tr_sup_stop(app->sup);
    tr_ref_release(app->sup);
    app->sup = NULL;
}
