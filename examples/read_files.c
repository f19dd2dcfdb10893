/* examples/read_files.c - blocking file reads off the workers.
 *
 *   read_files [max_threads] [file...]
 *
 * Reading a file blocks, so an actor must not do it on its worker. A
 * collector actor hands each read to the runtime's blocking pool
 * (tr_blocking_run, at most max_threads at once, default 2); each result
 * comes back to it as a message, with the file's bytes as an owned pointer.
 * The collector prints sizes and line counts and stops after the last
 * result; the runtime then closes by itself and main returns. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <troupe.h>

enum { MSG_READ = 1, MSG_FILE = 2 };

typedef struct file_data {
    size_t size;
    char bytes[];
} file_data;

/* Runs on a pool thread: may block. */
static int read_whole_file(void *arg, void **result) {
    const char *path = arg;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return -errno;
    size_t cap = 4096, n = 0;
    file_data *d = malloc(sizeof(*d) + cap);
    while (d != NULL) {
        n += fread(d->bytes + n, 1, cap - n, f);
        if (n < cap)
            break;
        cap *= 2;
        file_data *bigger = realloc(d, sizeof(*d) + cap);
        if (bigger == NULL) {
            free(d);
            d = NULL;
        }
        d = bigger;
    }
    fclose(f);
    if (d == NULL)
        return -ENOMEM;
    d->size = n;
    *result = d;
    return 0;
}

typedef struct collector {
    char **paths;
    int npaths;
    int pending;
    size_t total;
} collector;

static int collector_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    collector *c = state;
    if (msg->type == MSG_READ) { /* start: one blocking task per file */
        for (int i = 0; i < c->npaths; i++) {
            int rc = tr_blocking_run(tr_self(ctx), MSG_FILE, (uint64_t)i, read_whole_file,
                                     c->paths[i], free);
            if (rc == 0)
                c->pending++;
            else
                fprintf(stderr, "%s: %s\n", c->paths[i], tr_strerror(rc));
        }
    } else if (msg->type == MSG_FILE) {
        const char *path = c->paths[msg->word];
        if (msg->status != 0) {
            printf("%-32s error: %s\n", path, strerror(-msg->status));
        } else {
            const file_data *d = msg->ptr; /* freed with the message */
            size_t lines = 0;
            for (size_t i = 0; i < d->size; i++)
                lines += d->bytes[i] == '\n';
            printf("%-32s %8zu bytes %6zu lines\n", path, d->size, lines);
            c->total += d->size;
        }
        c->pending--;
    }
    if (c->pending == 0) {
        printf("read %d files, %zu bytes\n", c->npaths, c->total);
        tr_stop(ctx);
    }
    return 0;
}

int main(int argc, char **argv) {
    unsigned max_threads = argc > 1 ? (unsigned)atoi(argv[1]) : 2;
    static char *defaults[] = {"/etc/hostname", "/etc/os-release", "/etc/passwd",
                               "/proc/self/status", "/no/such/file"};
    collector c = {0};
    if (argc > 2) {
        c.paths = argv + 2;
        c.npaths = argc - 2;
    } else {
        c.paths = defaults;
        c.npaths = (int)(sizeof(defaults) / sizeof(defaults[0]));
    }
    tr_runtime *rt;
    int rc = tr_runtime_new(&rt, NULL);
    if (rc != 0) {
        fprintf(stderr, "runtime: %s\n", tr_strerror(rc));
        return 1;
    }
    tr_blocking_configure(rt, max_threads, 500);
    static const tr_behavior behavior = {NULL, collector_receive, NULL};
    tr_spawn_opts o = {0};
    o.arg = &c; /* no state_size, no init: arg is the state */
    tr_ref *ref;
    rc = tr_spawn(rt, &behavior, &o, &ref);
    if (rc == 0) {
        rc = tr_send_word(ref, MSG_READ, 0);
        tr_ref_release(ref); /* the runtime closes once the collector stops */
    }
    if (rc != 0)
        tr_runtime_close(rt);
    tr_runtime_join(rt);
    tr_blocking_stats st;
    tr_blocking_stats_get(rt, &st);
    printf("pool: %llu tasks, at most %u threads alive (limit %u)\n",
           (unsigned long long)st.completed, st.peak, st.max_threads);
    tr_runtime_free(rt);
    return rc == 0 ? 0 : 1;
}
