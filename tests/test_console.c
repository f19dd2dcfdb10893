/* tests/test_console.c - the console endpoint and the Prometheus text.
 *
 * A runtime serving a console runs the known system of console_app.h (a
 * supervisor "app" with children alpha, beta, gamma and a pool "jobs"); the
 * test thread is the client: it connects to the socket, writes a request
 * line and reads until the server hangs up. Hostile clients (silent ones,
 * 1 MB of garbage, one that hangs up mid-reply, one that never reads) must
 * not stop the console from answering others nor the runtime from answering
 * an ask. Every socket path is under /tmp, unique to the process. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <dirent.h>

#include <cmocka.h>

#include "support/console_app.h"
#include "tools/top_model.h"
#include "support/testutil.h"
#include "troupe.h"

static char sock_path[108];

static void make_path(const char *what) {
    snprintf(sock_path, sizeof(sock_path), "/tmp/troupe-test-console-%d-%s.sock", (int)getpid(),
             what);
    unlink(sock_path);
}

/* A runtime serving a console at sock_path, with the known system. */
static tr_runtime *console_runtime(console_app *app) {
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = 2;
    cfg.console_path = sock_path;
    tr_runtime *rt = NULL;
    assert_int_equal(tr_runtime_new(&rt, &cfg), 0);
    if (app != NULL)
        assert_int_equal(console_app_start(rt, app), 0);
    return rt;
}

static int connect_to(const char *path) {
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Read until the server hangs up (or timeout_ms): the text, malloc'd, or
 * NULL on timeout or error. */
static char *read_all(int fd, int timeout_ms) {
    size_t len = 0, cap = 1 << 16;
    char *buf = malloc(cap);
    int64_t deadline = tu_now_ms() + timeout_ms;
    while (buf != NULL) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int64_t left = deadline - tu_now_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            break;
        if (len + 1 == cap) {
            char *b = realloc(buf, cap *= 2);
            if (b == NULL)
                break;
            buf = b;
        }
        ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        if (n == 0) {
            buf[len] = '\0';
            return buf;
        }
        len += (size_t)n;
    }
    free(buf);
    return NULL;
}

/* One request, the whole reply (malloc'd) or NULL. */
static char *request(const char *req) {
    char line[600];
    int n = snprintf(line, sizeof(line), "%s\n", req);
    if (n >= (int)sizeof(line))
        return NULL;
    int fd = connect_to(sock_path);
    if (fd < 0)
        return NULL;
    char *out = NULL;
    if (send(fd, line, (size_t)n, MSG_NOSIGNAL) == n)
        out = read_all(fd, 10000);
    close(fd);
    return out;
}

/* ---- the Prometheus text, checked line by line -------------------------- */

static int metric_name_ok(const char *s, size_t n) {
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                 (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

/* A sample line: name, optional {k="v",...} (escapes \\ \" \n), one space,
 * a number. Sets the name's length. */
static int sample_ok(const char *l, size_t len, size_t *name_len) {
    size_t i = 0;
    while (i < len && l[i] != '{' && l[i] != ' ')
        i++;
    if (!metric_name_ok(l, i))
        return 0;
    *name_len = i;
    if (i < len && l[i] == '{') {
        i++;
        while (i < len && l[i] != '}') {
            size_t k = i;
            while (i < len && l[i] != '=')
                i++;
            if (!metric_name_ok(l + k, i - k) || i + 1 >= len || l[i + 1] != '"')
                return 0;
            for (i += 2; i < len && l[i] != '"'; i++)
                if (l[i] == '\\' && (++i >= len || (l[i] != '\\' && l[i] != '"' && l[i] != 'n')))
                    return 0;
            if (i >= len)
                return 0;
            i++; /* the closing quote */
            if (i < len && l[i] == ',')
                i++;
        }
        if (i >= len)
            return 0;
        i++; /* } */
    }
    if (i >= len || l[i] != ' ')
        return 0;
    i++;
    char num[64];
    size_t n = len - i;
    if (n == 0 || n >= sizeof(num))
        return 0;
    memcpy(num, l + i, n);
    num[n] = '\0';
    char *end;
    strtod(num, &end);
    return *end == '\0';
}

/* Every line a comment (# HELP / # TYPE naming a family) or a sample of
 * the family last declared by # TYPE; returns the number of samples, or -1
 * (and prints the line) when one does not parse. */
static int check_prometheus(const char *text) {
    char family[128] = "";
    int samples = 0;
    for (const char *p = text; *p != '\0';) {
        size_t len = strcspn(p, "\n");
        if (p[len] != '\n') {
            fprintf(stderr, "last line without a newline: %.*s\n", (int)len, p);
            return -1;
        }
        if (len > 0 && p[0] == '#') {
            char kw[8], name[128], type[32];
            if (sscanf(p, "# %7s %127s %31s", kw, name, type) == 3 && strcmp(kw, "TYPE") == 0) {
                if (strcmp(type, "counter") && strcmp(type, "gauge") && strcmp(type, "untyped")) {
                    fprintf(stderr, "bad type: %.*s\n", (int)len, p);
                    return -1;
                }
                snprintf(family, sizeof(family), "%s", name);
            } else if (strncmp(p, "# HELP ", 7) != 0) {
                fprintf(stderr, "bad comment: %.*s\n", (int)len, p);
                return -1;
            }
        } else {
            size_t nl = 0;
            if (!sample_ok(p, len, &nl) || nl != strlen(family) || strncmp(p, family, nl) != 0) {
                fprintf(stderr, "bad sample (family %s): %.*s\n", family, (int)len, p);
                return -1;
            }
            samples++;
        }
        p += len + 1;
    }
    return samples;
}

/* ---- the endpoint -------------------------------------------------------- */

static void no_console_without_a_path(void **state) {
    (void)state;
    unsetenv("TROUPE_CONSOLE");
    int before = tu_open_fds();
    tr_runtime *rt = tu_runtime_new(2);
    assert_non_null(rt);
    int with_rt = tu_open_fds();
    tr_runtime_free(rt);
    /* Only the workers' fds (two each): none for a console. */
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = 2;
    make_path("nopath");
    cfg.console_path = sock_path;
    assert_int_equal(tr_runtime_new(&rt, &cfg), 0);
    int with_console = tu_open_fds();
    tr_runtime_free(rt);
    assert_int_equal(with_console, with_rt + 3); /* listening socket, wake pipe */
    assert_int_equal(tu_open_fds(), before);
}

static void serves_version_and_help(void **state) {
    (void)state;
    make_path("version");
    tr_runtime *rt = console_runtime(NULL);
    struct stat st;
    assert_int_equal(lstat(sock_path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    char *v = request("version");
    assert_non_null(v);
    char want[64];
    snprintf(want, sizeof(want), "troupe-console %d\n", TR_CONSOLE_PROTOCOL);
    assert_string_equal(v, want);
    free(v);
    char *h = request("help");
    assert_non_null(h);
    assert_non_null(strstr(h, "prometheus"));
    assert_non_null(strstr(h, "version"));
    free(h);
    char *e = request("  version\r"); /* blanks and a CR around the word */
    assert_non_null(e);
    assert_string_equal(e, want);
    free(e);
    char *u = request("launch-missiles");
    assert_non_null(u);
    assert_memory_equal(u, "error: ", 7);
    free(u);
    tr_runtime_free(rt);
}

static void socket_removed_at_free(void **state) {
    (void)state;
    make_path("removed");
    tr_runtime *rt = console_runtime(NULL);
    assert_int_equal(access(sock_path, F_OK), 0);
    tr_runtime_free(rt);
    assert_int_equal(access(sock_path, F_OK), -1);
    assert_int_equal(connect_to(sock_path), -1);
}

static void stale_socket_is_replaced(void **state) {
    (void)state;
    make_path("stale");
    /* A crashed run's socket: bound, then closed without unlink. */
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    strcpy(addr.sun_path, sock_path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    close(fd);
    assert_int_equal(access(sock_path, F_OK), 0);
    tr_runtime *rt = console_runtime(NULL);
    char *v = request("version");
    assert_non_null(v);
    free(v);
    tr_runtime_free(rt);
    assert_int_equal(access(sock_path, F_OK), -1);
}

static void live_socket_is_busy(void **state) {
    (void)state;
    make_path("busy");
    tr_runtime *rt = console_runtime(NULL);
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = 1;
    cfg.console_path = sock_path;
    tr_runtime *rt2 = NULL;
    assert_int_equal(tr_runtime_new(&rt2, &cfg), TR_EBUSY);
    assert_null(rt2);
    char *v = request("version"); /* the first still serves */
    assert_non_null(v);
    free(v);
    tr_runtime_free(rt);
}

static void bad_paths_are_errors(void **state) {
    (void)state;
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = 1;
    tr_runtime *rt = NULL;
    char longpath[200];
    memset(longpath, 'x', sizeof(longpath) - 1);
    longpath[0] = '/';
    longpath[sizeof(longpath) - 1] = '\0';
    cfg.console_path = longpath;
    assert_int_equal(tr_runtime_new(&rt, &cfg), TR_EINVAL);
    cfg.console_path = "";
    assert_int_equal(tr_runtime_new(&rt, &cfg), TR_EINVAL);
    cfg.console_path = "/nonexistent-troupe-dir/console.sock";
    assert_int_equal(tr_runtime_new(&rt, &cfg), TR_ESYS);
    /* A file that is not a socket is left alone. */
    make_path("regular");
    FILE *f = fopen(sock_path, "w");
    assert_non_null(f);
    fputs("keep me\n", f);
    fclose(f);
    cfg.console_path = sock_path;
    assert_int_equal(tr_runtime_new(&rt, &cfg), TR_EEXIST);
    assert_null(rt);
    struct stat st;
    assert_int_equal(stat(sock_path, &st), 0);
    assert_int_equal(st.st_size, 8);
    unlink(sock_path);
}

static void environment_variable_serves_and_bad_one_only_warns(void **state) {
    (void)state;
    make_path("env");
    setenv("TROUPE_CONSOLE", sock_path, 1);
    tr_runtime *rt = tu_runtime_new(1);
    assert_non_null(rt);
    char *v = request("version");
    assert_non_null(v);
    free(v);
    tr_runtime_free(rt);
    assert_int_equal(access(sock_path, F_OK), -1);
    /* A path that cannot be served: the runtime runs without a console. */
    setenv("TROUPE_CONSOLE", "/nonexistent-troupe-dir/console.sock", 1);
    rt = tu_runtime_new(1);
    assert_non_null(rt);
    console_app app;
    assert_int_equal(console_app_start(rt, &app), 0);
    assert_int_equal(console_app_ping(&app, TU_WAIT_MS), 0);
    console_app_stop(&app);
    tr_runtime_free(rt);
    /* The configured path wins over the variable. */
    setenv("TROUPE_CONSOLE", "/nonexistent-troupe-dir/console.sock", 1);
    make_path("env-config");
    rt = console_runtime(NULL);
    v = request("version");
    assert_non_null(v);
    free(v);
    tr_runtime_free(rt);
    unsetenv("TROUPE_CONSOLE");
}

/* ---- Prometheus ------------------------------------------------------------ */

static void prometheus_request_parses(void **state) {
    (void)state;
    make_path("prom");
    console_app app;
    tr_runtime *rt = console_runtime(&app);
    assert_int_equal(console_app_ping(&app, TU_WAIT_MS), 0);
    char *text = request("prometheus");
    assert_non_null(text);
    int samples = check_prometheus(text);
    assert_true(samples > 0);
    assert_non_null(strstr(text, "# TYPE troupe_actors_alive gauge\n"));
    /* The supervisor, its three children, the pool router and its workers. */
    char want[64];
    snprintf(want, sizeof(want), "\ntroupe_actors_alive %d\n",
             1 + 3 + 1 + CONSOLE_APP_POOL_WORKERS);
    assert_non_null(strstr(text, want));
    free(text);
    console_app_stop(&app);
    tr_runtime_free(rt);
}

static void prometheus_call_checks_its_buffer(void **state) {
    (void)state;
    tr_runtime *rt = tu_runtime_new(1);
    assert_non_null(rt);
    size_t needed = 0;
    char small[16];
    assert_int_equal(tr_metrics_prometheus(NULL, small, sizeof(small), &needed), TR_EINVAL);
    assert_int_equal(tr_metrics_prometheus(rt, NULL, 10, &needed), TR_EINVAL);
    assert_int_equal(tr_metrics_prometheus(rt, NULL, 0, &needed), TR_E2BIG);
    assert_true(needed > 100);
    /* Cut: a NUL-terminated prefix. */
    assert_int_equal(tr_metrics_prometheus(rt, small, sizeof(small), NULL), TR_E2BIG);
    assert_int_equal(strlen(small), sizeof(small) - 1);
    assert_memory_equal(small, "# HELP troupe_", 14);
    size_t cap = needed + 4096;
    char *buf = malloc(cap);
    assert_int_equal(tr_metrics_prometheus(rt, buf, cap, &needed), 0);
    assert_int_equal(strlen(buf), needed);
    assert_true(check_prometheus(buf) > 0);
    free(buf);
    tr_runtime_free(rt);
}

/* The label of the actor named name in text ("name#id"), or "". */
static const char *find_actor_label(const char *text, const char *name, char *out, size_t cap) {
    char key[128];
    snprintf(key, sizeof(key), "troupe_actor_info{actor=\"%s#", name);
    const char *p = strstr(text, key);
    out[0] = '\0';
    if (p != NULL) {
        p += strlen("troupe_actor_info{actor=\"");
        size_t n = strcspn(p, "\"");
        snprintf(out, cap, "%.*s", (int)n, p);
    }
    return out;
}

static void prometheus_names_every_known_actor(void **state) {
    (void)state;
    make_path("promnames");
    console_app app;
    tr_runtime *rt = console_runtime(&app);
    assert_int_equal(console_app_ping(&app, TU_WAIT_MS), 0);
    char *text = request("prometheus");
    assert_non_null(text);
    assert_true(check_prometheus(text) > 0);
    char label[128];
    const char *names[] = {"app", "app/alpha", "app/beta", "app/gamma", "app/jobs"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        find_actor_label(text, names[i], label, sizeof(label));
        assert_true(label[0] != '\0');
        /* Every actor family has a sample for it. */
        char want[200];
        snprintf(want, sizeof(want), "troupe_actor_mailbox_depth{actor=\"%s\"} ", label);
        assert_non_null(strstr(text, want));
        snprintf(want, sizeof(want), "troupe_actor_messages_total{actor=\"%s\"} ", label);
        assert_non_null(strstr(text, want));
    }
    /* alpha answered one ask at least. */
    find_actor_label(text, "app/alpha", label, sizeof(label));
    char want[200];
    snprintf(want, sizeof(want), "troupe_actor_messages_total{actor=\"%s\"} 0\n", label);
    assert_null(strstr(text, want));
    /* The tree: alpha under app (a supervisor), the pool's workers under
     * jobs (a pool); children named "supervisor/child", each pool worker
     * "pool[slot]" (core/name.h). */
    char sup[128], jobs[128];
    find_actor_label(text, "app", sup, sizeof(sup));
    find_actor_label(text, "app/jobs", jobs, sizeof(jobs));
    snprintf(want, sizeof(want), "name=\"app\",parent=\"\",role=\"supervisor\"");
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof(want), "name=\"app/alpha\",parent=\"%s\",role=\"actor\"", sup);
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof(want), "name=\"app/jobs\",parent=\"%s\",role=\"pool\"", sup);
    assert_non_null(strstr(text, want));
    for (int slot = 0; slot < CONSOLE_APP_POOL_WORKERS; slot++) {
        snprintf(want, sizeof(want), "name=\"jobs[%d]\",parent=\"%s\",role=\"pool_worker\"", slot,
                 jobs);
        assert_non_null(strstr(text, want));
    }
    /* A sample per worker. */
    assert_non_null(strstr(text, "troupe_worker_turns_total{worker=\"0\"} "));
    assert_non_null(strstr(text, "troupe_worker_turns_total{worker=\"1\"} "));
    assert_null(strstr(text, "troupe_worker_turns_total{worker=\"2\"} "));
    free(text);
    console_app_stop(&app);
    tr_runtime_free(rt);
}

static int idle_receive(tr_ctx *ctx, void *st, tr_msg *msg) {
    (void)ctx;
    (void)st;
    (void)msg;
    return 0;
}

static void prometheus_escapes_label_values(void **state) {
    (void)state;
    tr_runtime *rt = tu_runtime_new(1);
    assert_non_null(rt);
    static const tr_behavior b = {.receive = idle_receive};
    tr_spawn_opts opts;
    memset(&opts, 0, sizeof(opts));
    opts.name = "we\"ird\\na\nme";
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &b, &opts, &ref), 0);
    size_t needed = 0;
    tr_metrics_prometheus(rt, NULL, 0, &needed);
    char *buf = malloc(needed + 65536);
    assert_int_equal(tr_metrics_prometheus(rt, buf, needed + 65536, NULL), 0);
    assert_true(check_prometheus(buf) > 0);
    assert_non_null(strstr(buf, "actor=\"we\\\"ird\\\\na\\nme#"));
    free(buf);
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

static void snapshot_lists_workers_and_known_names(void **state) {
    (void)state;
    make_path("snap");
    console_app app;
    tr_runtime *rt = console_runtime(&app);
    char *text = request("snapshot");
    assert_non_null(text);
    assert_true(strncmp(text, "error", 5) != 0);
    const char *names[] = {"\"app\"",       "\"app/alpha\"", "\"app/beta\"",
                           "\"app/gamma\"", "\"app/jobs\"",  "\"jobs[0]\""};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        assert_non_null(strstr(text, names[i]));
    assert_non_null(strstr(text, "worker 0"));
    assert_non_null(strstr(text, "worker 1"));
    /* The same text tr_snapshot_format gives, line for line in shape: one
     * line per worker and per actor, after the runtime's. */
    size_t lines = 0;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    assert_true(lines >= 1 + 2 + 1 + 3 + 1 + CONSOLE_APP_POOL_WORKERS);
    free(text);
    console_app_stop(&app);
    tr_runtime_free(rt);
}

/* troupe-top's model reads what the runtime writes: the workers, the known
 * actors, the tree (app > app/alpha, app/jobs > jobs[N]), busy % from two updates. */
static void troupe_top_model_reads_the_exposition(void **state) {
    (void)state;
    make_path("model");
    console_app app;
    tr_runtime *rt = console_runtime(&app);
    assert_int_equal(console_app_ping(&app, TU_WAIT_MS), 0);
    top_model *m = top_model_new();
    assert_non_null(m);
    char *text = request("prometheus");
    assert_non_null(text);
    assert_int_equal(top_model_update(m, text, 1000), 0);
    free(text);
    assert_int_equal(m->malformed, 0);
    assert_int_equal(m->nworkers, 2);
    assert_int_equal(m->workers[0].id, 0);
    assert_int_equal(m->workers[1].id, 1);
    assert_int_equal(m->actors_alive, 1 + 3 + 1 + CONSOLE_APP_POOL_WORKERS);
    assert_int_equal(m->nactors, 1 + 3 + 1 + CONSOLE_APP_POOL_WORKERS);
    assert_int_equal(m->metrics_level, TR_METRICS_BASIC);
    /* The tree: app first, its four children at depth 1, the pool's
     * workers at depth 2, all eight actors once. */
    assert_int_equal(m->ntree, m->nactors);
    assert_int_equal(m->tree[0].depth, 0);
    assert_memory_equal(m->actors[m->tree[0].actor].label, "app#", 4);
    assert_true(m->actors[m->tree[0].actor].is_sup);
    int depth1 = 0, depth2 = 0;
    for (size_t i = 0; i < m->ntree; i++) {
        const top_actor *a = &m->actors[m->tree[i].actor];
        depth1 += m->tree[i].depth == 1;
        depth2 += m->tree[i].depth == 2;
        if (m->tree[i].depth == 2)
            assert_memory_equal(a->label, "jobs[", 5);
    }
    assert_int_equal(depth1, 4);
    assert_int_equal(depth2, CONSOLE_APP_POOL_WORKERS);
    /* Sorted by name: app, then its children. */
    size_t *order = top_model_sorted(m, TOP_SORT_NAME);
    assert_non_null(order);
    assert_memory_equal(m->actors[order[0]].label, "app#", 4);
    assert_memory_equal(m->actors[order[1]].label, "app/alpha#", 10);
    free(order);
    /* A second update a second later: busy % of the workers from their
     * busy seconds, between 0 and 100 (plus rounding). */
    text = request("prometheus");
    assert_non_null(text);
    assert_int_equal(top_model_update(m, text, 2000), 0);
    free(text);
    for (size_t i = 0; i < m->nworkers; i++)
        assert_true(m->workers[i].busy_pct >= 0 && m->workers[i].busy_pct <= 101);
    /* Lines it cannot read are counted, not fatal. */
    assert_int_equal(top_model_update(m, "troupe_workers 2\nnot a metric line\nx{y=\"1} 2\n", 3000),
                     0);
    assert_int_equal(m->malformed, 2);
    top_model_free(m);
    console_app_stop(&app);
    tr_runtime_free(rt);
}

/* ---- hostile clients --------------------------------------------------------- */

/* The console answers and the runtime answers asks. */
static void assert_all_well(console_app *app) {
    int64_t t0 = tu_now_ms();
    char *v = request("version");
    assert_non_null(v);
    assert_memory_equal(v, "troupe-console ", 15);
    free(v);
    assert_int_equal(console_app_ping(app, TU_WAIT_MS), 0);
    /* Generous: the point is "not stuck behind the hostile client's 2 s or
     * 5 s deadline", on a loaded machine. */
    assert_true(tu_now_ms() - t0 < 1500);
}

static void silent_clients_do_not_block(void **state) {
    (void)state;
    make_path("silent");
    console_app app;
    tr_runtime *rt = console_runtime(&app);
    int silent[4];
    for (int i = 0; i < 4; i++)
        assert_true((silent[i] = connect_to(sock_path)) >= 0);
    assert_all_well(&app);
    /* The server hangs up on them after its 2 s request deadline. */
    for (int i = 0; i < 4; i++) {
        char *rest = read_all(silent[i], 10000);
        assert_non_null(rest);
        assert_string_equal(rest, "");
        free(rest);
        close(silent[i]);
    }
    console_app_stop(&app);
    tr_runtime_free(rt);
}

static void connection_limit_says_busy(void **state) {
    (void)state;
    make_path("limit");
    console_app app;
    tr_runtime *rt = console_runtime(&app);
    int fds[16];
    for (int i = 0; i < 16; i++)
        assert_true((fds[i] = connect_to(sock_path)) >= 0);
    /* The 17th is told, whether or not it sent its request yet (here: not,
     * so no race between its request and the server's hang-up). */
    int extra = connect_to(sock_path);
    assert_true(extra >= 0);
    char *busy = read_all(extra, 10000);
    close(extra);
    assert_non_null(busy);
    assert_string_equal(busy, "error: console busy, try again\n");
    free(busy);
    assert_int_equal(console_app_ping(&app, TU_WAIT_MS), 0);
    for (int i = 0; i < 16; i++)
        close(fds[i]);
    /* Slots come back as the server sees the hang-ups. */
    char *v = NULL;
    for (int tries = 0; tries < 100 && v == NULL; tries++) {
        v = request("version");
        if (v != NULL && strncmp(v, "error", 5) == 0) {
            free(v);
            v = NULL;
            tu_sleep_ms(20);
        }
    }
    assert_non_null(v);
    free(v);
    console_app_stop(&app);
    tr_runtime_free(rt);
}

static void megabyte_of_garbage_is_refused(void **state) {
    (void)state;
    make_path("garbage");
    console_app app;
    tr_runtime *rt = console_runtime(&app);
    int fd = connect_to(sock_path);
    assert_true(fd >= 0);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    size_t total = 1 << 20, sent = 0;
    char *junk = malloc(total);
    for (size_t i = 0; i < total; i++)
        junk[i] = (char)('A' + i % 26); /* no newline */
    int64_t deadline = tu_now_ms() + 10000;
    while (sent < total && tu_now_ms() < deadline) {
        ssize_t n = send(fd, junk + sent, total - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += (size_t)n;
        } else if (n < 0 && errno == EAGAIN) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            poll(&p, 1, 50);
        } else {
            break; /* the server hung up on us: expected */
        }
    }
    free(junk);
    assert_true(sent < total); /* it did not swallow a megabyte */
    close(fd);
    assert_all_well(&app);
    console_app_stop(&app);
    tr_runtime_free(rt);
}

static void request_line_too_long_gets_an_error(void **state) {
    (void)state;
    make_path("long");
    tr_runtime *rt = console_runtime(NULL);
    char line[400];
    memset(line, 'v', sizeof(line) - 1);
    line[sizeof(line) - 1] = '\0';
    /* One send: the bytes past 256 are there when the server answers, and
     * it takes them before it hangs up, so the answer is not lost. */
    char *r = request(line);
    assert_non_null(r);
    assert_string_equal(r, "error: request line too long\n");
    free(r);
    char *v = request("version");
    assert_non_null(v);
    free(v);
    tr_runtime_free(rt);
}

static void hang_up_mid_reply_and_never_read(void **state) {
    (void)state;
    make_path("midreply");
    console_app app;
    tr_runtime *rt = console_runtime(&app);
    /* Many times: hang up right after the request, or after a few bytes. */
    for (int i = 0; i < 50; i++) {
        int fd = connect_to(sock_path);
        assert_true(fd >= 0);
        assert_int_equal(send(fd, "prometheus\n", 11, MSG_NOSIGNAL), 11);
        if (i % 2) {
            char b[8];
            (void)recv(fd, b, sizeof(b), 0);
        }
        close(fd);
    }
    /* One that asks and never reads, with the smallest receive buffer. */
    int lazy = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lazy, SOL_SOCKET, SO_RCVBUF, &one, sizeof(one));
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    strcpy(addr.sun_path, sock_path);
    assert_int_equal(connect(lazy, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(send(lazy, "prometheus\n", 11, MSG_NOSIGNAL), 11);
    assert_all_well(&app);
    char *text = request("prometheus");
    assert_non_null(text);
    assert_true(check_prometheus(text) > 0);
    free(text);
    close(lazy);
    console_app_stop(&app);
    tr_runtime_free(rt);
}

static void free_with_clients_connected(void **state) {
    (void)state;
    make_path("freeconn");
    int before = tu_open_fds();
    console_app app;
    tr_runtime *rt = console_runtime(&app);
    int fds[3];
    for (int i = 0; i < 3; i++)
        assert_true((fds[i] = connect_to(sock_path)) >= 0);
    assert_int_equal(send(fds[0], "prometheus\n", 11, MSG_NOSIGNAL), 11);
    assert_int_equal(send(fds[1], "vers", 4, MSG_NOSIGNAL), 4);
    console_app_stop(&app);
    int64_t t0 = tu_now_ms();
    tr_runtime_free(rt); /* does not wait for the clients' deadlines */
    assert_true(tu_now_ms() - t0 < 1500);
    for (int i = 0; i < 3; i++)
        close(fds[i]);
    assert_int_equal(tu_open_fds(), before);
    assert_int_equal(access(sock_path, F_OK), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_console_without_a_path),
        cmocka_unit_test(serves_version_and_help),
        cmocka_unit_test(socket_removed_at_free),
        cmocka_unit_test(stale_socket_is_replaced),
        cmocka_unit_test(live_socket_is_busy),
        cmocka_unit_test(bad_paths_are_errors),
        cmocka_unit_test(environment_variable_serves_and_bad_one_only_warns),
        cmocka_unit_test(prometheus_request_parses),
        cmocka_unit_test(prometheus_call_checks_its_buffer),
        cmocka_unit_test(prometheus_names_every_known_actor),
        cmocka_unit_test(prometheus_escapes_label_values),
        cmocka_unit_test(snapshot_lists_workers_and_known_names),
        cmocka_unit_test(troupe_top_model_reads_the_exposition),
        cmocka_unit_test(silent_clients_do_not_block),
        cmocka_unit_test(connection_limit_says_busy),
        cmocka_unit_test(megabyte_of_garbage_is_refused),
        cmocka_unit_test(request_line_too_long_gets_an_error),
        cmocka_unit_test(hang_up_mid_reply_and_never_read),
        cmocka_unit_test(free_with_clients_connected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
