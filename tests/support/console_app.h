/* tests/support/console_app.h - a small system with known names, for the
 * console's tests (tests/test_console.c, tests/console_fixture.c).
 *
 * A supervisor "app" (spawn name "app") with three children, spawned with
 * the names "alpha", "beta" and "gamma" (child ids the same), and a pool
 * "jobs" of 3 workers as its fourth child (child id "jobs"). The children
 * answer an ask (any type) with an empty reply, so a test can check the
 * runtime still works while the console is being abused; a
 * CONSOLE_APP_HOLD message holds the child in its handler until
 * console_app_dead_letters lets it go. */
#ifndef TROUPE_TESTS_CONSOLE_APP_H
#define TROUPE_TESTS_CONSOLE_APP_H

#include "troupe.h"

#define CONSOLE_APP_POOL_WORKERS 3

typedef struct console_app {
    tr_ref *sup;
} console_app;

/* Start the system on rt. 0 or an error code. */
int console_app_start(tr_runtime *rt, console_app *app);
/* A handle to the child with this id (owned: release it), or NULL. */
tr_ref *console_app_child(console_app *app, const char *id);
/* Ask alpha once and wait for the reply: 0 when the runtime answered. */
int console_app_ping(console_app *app, int timeout_ms);
/* Make gamma end with n messages queued (held in a handler while they are
 * sent, then stopped): n dead letters to gamma, which its supervisor
 * restarts; the new gamma shows them (tr_actor_info.dead_letters). 0 once
 * gamma was told to stop with the n queued (it ends a moment later), or an
 * error code. */
#define CONSOLE_APP_HOLD 99u
int console_app_dead_letters(console_app *app, unsigned n, int timeout_ms);
/* Stop the supervisor and release its handle. */
void console_app_stop(console_app *app);

#endif
