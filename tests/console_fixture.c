/* tests/console_fixture.c - a program with known actors serving a console,
 * for tests/console_tmux.sh (and for trying troupe-top by hand).
 *
 *   console_fixture PATH [SECONDS]
 *
 * Runs console_app.h's system (supervisor "app": alpha, beta, gamma and a
 * pool "jobs" of 3) with the console at PATH, keeps it a little busy (asks
 * to alpha, jobs to the pool; gamma ended once with 3 messages queued, so
 * it shows 3 dead letters) and exits 0 after SECONDS (default 30) or on
 * SIGTERM/SIGINT, removing the socket. Prints "ready" once it serves. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/console_app.h"
#include "support/testutil.h"
#include "troupe.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: console_fixture PATH [SECONDS]\n");
        return 2;
    }
    int seconds = argc > 2 ? atoi(argv[2]) : 30;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = 2;
    cfg.console_path = argv[1];
    tr_runtime *rt;
    int rc = tr_runtime_new(&rt, &cfg);
    if (rc != 0) {
        fprintf(stderr, "console_fixture: %s: %s\n", argv[1], tr_strerror(rc));
        return 1;
    }
    console_app app;
    if ((rc = console_app_start(rt, &app)) != 0) {
        fprintf(stderr, "console_fixture: %s\n", tr_strerror(rc));
        tr_runtime_free(rt);
        return 1;
    }
    /* gamma ends with 3 messages queued and is restarted: its row shows 3
     * dead letters (and 1 restart). */
    if ((rc = console_app_dead_letters(&app, 3, 5000)) != 0) {
        fprintf(stderr, "console_fixture: dead letters: %s\n", tr_strerror(rc));
        console_app_stop(&app);
        tr_runtime_free(rt);
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    tr_ref *jobs = console_app_child(&app, "jobs");
    int64_t end = tu_now_ms() + (int64_t)seconds * 1000;
    while (!stop && tu_now_ms() < end) {
        console_app_ping(&app, 1000);
        for (int i = 0; jobs != NULL && i < 100; i++)
            tr_send_word(jobs, 1, (uint64_t)i);
        tu_sleep_ms(10);
    }
    tr_ref_release(jobs);
    console_app_stop(&app);
    tr_runtime_free(rt);
    return 0;
}
