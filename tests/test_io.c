/* tests/test_io.c - fd readiness watches and signal shutdown (troupe/io.h). */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

enum { M_WATCH = 1, M_UNWATCH = 2 };

#define ROUNDS 5

/* Reads one byte per readiness and re-arms; counts what it saw. */
typedef struct reader {
    int fd;
    tr_fd_watch_id id;
    uint64_t ready, bytes, bad_tag, write_ready, watched;
} reader;

static int reader_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    reader *r = state;
    tr_runtime *rt = tr_ctx_runtime(ctx);
    if (msg->type == M_WATCH) {
        if (tr_fd_watch(tr_self(ctx), r->fd, (unsigned)msg->word, 77, &r->id) == 0)
            tu_store(&r->watched, 1);
        return 0;
    }
    if (msg->type == M_UNWATCH) {
        tr_fd_unwatch(rt, r->id);
        tu_store(&r->watched, 2);
        return 0;
    }
    if (msg->type == TR_MSG_FD_READY) {
        if (msg->word != 77)
            tu_add(&r->bad_tag, 1);
        if (msg->status & TR_FD_WRITE) {
            tu_add(&r->write_ready, 1);
            return 0;
        }
        char c;
        ssize_t n = read(r->fd, &c, 1);
        if (n == 1)
            tu_add(&r->bytes, 1);
        tu_add(&r->ready, 1);
        tr_fd_rearm(rt, r->id, TR_FD_READ);
    }
    return 0;
}

static const tr_behavior reader_beh = {NULL, reader_receive, NULL};

static void fd_readiness_on_a_socketpair_arrives_as_messages(void **s) {
    (void)s;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    tr_runtime *rt = tu_runtime_new(2);
    reader r;
    memset(&r, 0, sizeof(r));
    r.fd = sv[0];
    tr_spawn_opts o = {0};
    o.arg = &r;
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &reader_beh, &o, &ref), 0);
    assert_int_equal(tr_send_word(ref, M_WATCH, TR_FD_READ), 0);
    assert_true(tu_wait_ge(&r.watched, 1, TU_WAIT_MS));
    for (int i = 0; i < ROUNDS; i++) {
        assert_int_equal(write(sv[1], "x", 1), 1);
        assert_true(tu_wait_ge(&r.bytes, (uint64_t)i + 1, TU_WAIT_MS));
    }
    assert_int_equal(tu_load(&r.ready), ROUNDS);
    /* After unwatch nothing more arrives. */
    assert_int_equal(tr_send_word(ref, M_UNWATCH, 0), 0);
    assert_true(tu_wait_ge(&r.watched, 2, TU_WAIT_MS));
    assert_int_equal(write(sv[1], "y", 1), 1);
    tu_sleep_ms(100);
    assert_int_equal(tu_load(&r.ready), ROUNDS);
    assert_int_equal(tu_load(&r.bad_tag), 0);
    tr_ref_release(ref);
    tr_runtime_free(rt);
    close(sv[0]);
    close(sv[1]);
}

static void write_readiness_is_one_shot_until_rearmed(void **s) {
    (void)s;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    tr_runtime *rt = tu_runtime_new(1);
    reader r;
    memset(&r, 0, sizeof(r));
    r.fd = sv[0];
    tr_spawn_opts o = {0};
    o.arg = &r;
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &reader_beh, &o, &ref), 0);
    /* A writable socket is ready at once, but only one message comes. */
    assert_int_equal(tr_send_word(ref, M_WATCH, TR_FD_WRITE), 0);
    assert_true(tu_wait_ge(&r.write_ready, 1, TU_WAIT_MS));
    tu_sleep_ms(50);
    assert_int_equal(tu_load(&r.write_ready), 1);
    /* A foreign thread may re-arm. */
    assert_int_equal(tr_fd_rearm(rt, r.id, TR_FD_WRITE), 0);
    assert_true(tu_wait_ge(&r.write_ready, 2, TU_WAIT_MS));
    assert_int_equal(tr_fd_unwatch(rt, r.id), 0);
    assert_int_equal(tr_fd_unwatch(rt, r.id), TR_ENOTFOUND);
    assert_int_equal(tr_fd_rearm(rt, r.id, TR_FD_READ), TR_ENOTFOUND);
    tr_ref_release(ref);
    tr_runtime_free(rt);
    close(sv[0]);
    close(sv[1]);
}

static void fd_watch_rejects_bad_arguments(void **s) {
    (void)s;
    tr_runtime *rt = tu_runtime_new(1);
    reader r;
    memset(&r, 0, sizeof(r));
    tr_spawn_opts o = {0};
    o.arg = &r;
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &reader_beh, &o, &ref), 0);
    assert_int_equal(tr_fd_watch(NULL, 0, TR_FD_READ, 0, NULL), TR_EINVAL);
    assert_int_equal(tr_fd_watch(ref, -1, TR_FD_READ, 0, NULL), TR_EINVAL);
    assert_int_equal(tr_fd_watch(ref, 0, 0, 0, NULL), TR_EINVAL);
    assert_int_equal(tr_fd_watch(ref, 0, 0x10, 0, NULL), TR_EINVAL);
    assert_int_equal(tr_fd_unwatch(NULL, 1), TR_EINVAL);
    assert_int_equal(tr_fd_unwatch(rt, 999), TR_ENOTFOUND);
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

static void shutdown_with_live_fd_watches_stops_them(void **s) {
    (void)s;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    tr_runtime *rt = tu_runtime_new(2);
    reader r;
    memset(&r, 0, sizeof(r));
    r.fd = sv[0];
    tr_spawn_opts o = {0};
    o.arg = &r;
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &reader_beh, &o, &ref), 0);
    /* Watches from a foreign thread too (handed over by a post). */
    tr_fd_watch_id id;
    assert_int_equal(tr_fd_watch(ref, sv[0], TR_FD_READ, 1, &id), 0);
    assert_int_equal(tr_send_word(ref, M_WATCH, TR_FD_READ), 0);
    assert_true(tu_wait_ge(&r.watched, 1, TU_WAIT_MS));
    tr_ref_release(ref);
    assert_int_equal(tr_runtime_free(rt), 0); /* no leak (ASan), no hang */
    close(sv[0]);
    close(sv[1]);
}

/* --- signals ---------------------------------------------------------------------- */

static void sigterm_closes_the_runtime_gracefully(void **s) {
    (void)s;
    tr_runtime *rt = tu_runtime_new(2);
    reader r;
    memset(&r, 0, sizeof(r));
    tr_spawn_opts o = {0};
    o.arg = &r;
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &reader_beh, &o, &ref), 0);
    assert_int_equal(tr_runtime_close_on_signals(rt), 0);
    assert_int_equal(tr_runtime_close_on_signals(rt), 0); /* idempotent */
    assert_int_equal(kill(getpid(), SIGTERM), 0);
    int64_t dl = tu_now_ms() + TU_WAIT_MS;
    while (!tr_runtime_is_closed(rt) && tu_now_ms() < dl)
        tu_sleep_ms(5);
    assert_true(tr_runtime_is_closed(rt));
    assert_int_equal(tr_runtime_join(rt), 0);
    assert_int_equal(tr_ref_is_alive(ref), 0);
    tr_ref_release(ref);
    assert_int_equal(tr_runtime_free(rt), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fd_readiness_on_a_socketpair_arrives_as_messages),
        cmocka_unit_test(write_readiness_is_one_shot_until_rearmed),
        cmocka_unit_test(fd_watch_rejects_bad_arguments),
        cmocka_unit_test(shutdown_with_live_fd_watches_stops_them),
        cmocka_unit_test(sigterm_closes_the_runtime_gracefully),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
