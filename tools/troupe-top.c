/* tools/troupe-top.c - a live console for a running troupe program.
 *
 *   troupe-top PATH                the live view (ncurses), refreshed every second
 *   troupe-top --once PATH         print the runtime's snapshot once, exit
 *   troupe-top --prometheus PATH   print the Prometheus text once, exit
 *
 * PATH is the program's console socket (tr_runtime_config.console_path or
 * TROUPE_CONSOLE). A client of the console protocol (troupe/console.h): one
 * connection per request, one request line, the reply until the server
 * hangs up. It links nothing of troupe's: the wire is the interface.
 *
 * The live view asks for `prometheus` each second and builds its tables from
 * those samples (tools/top_model.c): workers (busy %, run queue, parks), the
 * top actors by busy time, mailbox depth or dead letters, and the supervisor
 * tree with restarts. Keys: b, m, d, r, n sort the actors by busy time,
 * mailbox, dead letters, restarts, name; q quits. --once and --prometheus
 * never touch the terminal (no ncurses initialisation): fit for scripts and
 * pipes. Exit status: 0, or 1 with a message on stderr when the console
 * cannot be reached or answers with an error, 2 on a usage error. */
#include <curses.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "top_model.h"

#define REPLY_TIMEOUT_MS 5000

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the client -------------------------------------------------------- */

/* Send req to the console at path and read the whole reply into *out
 * (malloc'd, NUL-terminated). 0, or -1 with a message in err. */
static int fetch(const char *path, const char *req, char **out, char *err, size_t errlen) {
    *out = NULL;
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(addr.sun_path)) {
        snprintf(err, errlen, "%s: path too long for a Unix socket", path);
        return -1;
    }
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        snprintf(err, errlen, "cannot connect to %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    char line[64];
    int n = snprintf(line, sizeof(line), "%s\n", req);
    if (send(fd, line, (size_t)n, MSG_NOSIGNAL) != n) {
        snprintf(err, errlen, "%s: cannot send the request: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    size_t len = 0, cap = 65536;
    char *buf = malloc(cap);
    int64_t deadline = now_ms() + REPLY_TIMEOUT_MS;
    for (;;) {
        if (buf == NULL) {
            snprintf(err, errlen, "out of memory");
            close(fd);
            return -1;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int64_t left = deadline - now_ms();
        if (left <= 0 || poll(&p, 1, (int)left) == 0) {
            snprintf(err, errlen, "%s: no reply within %d ms", path, REPLY_TIMEOUT_MS);
            break;
        }
        if (len + 1 == cap) {
            char *b = realloc(buf, cap * 2);
            if (b == NULL) {
                free(buf);
                buf = NULL;
                continue;
            }
            buf = b;
            cap *= 2;
        }
        ssize_t r = recv(fd, buf + len, cap - 1 - len, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            break;
        }
        if (r == 0) { /* the server hung up: the reply is complete */
            close(fd);
            buf[len] = '\0';
            if (strncmp(buf, "error: ", 7) == 0) {
                snprintf(err, errlen, "%s: %.*s", path, (int)strcspn(buf + 7, "\n") + 7, buf);
                free(buf);
                return -1;
            }
            *out = buf;
            return 0;
        }
        len += (size_t)r;
    }
    close(fd);
    free(buf);
    return -1;
}

/* ---- the live view ----------------------------------------------------- */

static volatile sig_atomic_t resized;

static void on_winch(int sig) {
    (void)sig;
    resized = 1;
}

static void line_at(int y, int bold, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void line_at(int y, int bold, const char *fmt, ...) {
    if (y >= LINES)
        return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (bold)
        attron(A_BOLD);
    mvaddnstr(y, 0, buf, COLS);
    if (bold)
        attroff(A_BOLD);
}

static const char *sort_names[] = {"busy", "mailbox", "dead letters", "restarts", "name"};

static void draw(const char *path, const top_model *m, int sort, const char *err) {
    erase();
    int y = 0;
    line_at(y++, 1,
            "troupe-top  %s   workers %zu  actors %llu alive, %llu spawned  dead letters %llu",
            path, m->nworkers, (unsigned long long)m->actors_alive,
            (unsigned long long)m->actors_spawned, (unsigned long long)m->dead_letters);
    line_at(y++, 0,
            "sort: %s   keys: b busy  m mailbox  d dead letters  r restarts  n name  q quit",
            sort_names[sort]);
    if (err != NULL)
        line_at(y++, 1, "%s", err);
    y++;
    line_at(y++, 1, "%-8s %7s %8s %10s %12s %10s", "WORKER", "BUSY%", "QUEUE", "PARKS", "TURNS",
            "STEALS");
    for (size_t i = 0; i < m->nworkers && y < LINES; i++) {
        const top_worker *w = &m->workers[i];
        line_at(y++, 0, "%-8u %6.1f%% %8llu %10llu %12llu %10llu", w->id, w->busy_pct,
                (unsigned long long)w->queue, (unsigned long long)w->parks,
                (unsigned long long)w->turns, (unsigned long long)w->steals);
    }
    y++;
    /* The supervisor tree takes what it needs, up to half the rest; the
     * actors get the others. */
    size_t rest = y < LINES ? (size_t)(LINES - y) : 0;
    size_t tree_rows = m->ntree + 2;
    if (tree_rows > rest / 2)
        tree_rows = rest / 2;
    size_t actor_rows = rest > tree_rows + 1 ? rest - tree_rows - 1 : 0;
    line_at(y++, 1, "%-36s %7s %9s %8s %12s %6s %8s  %-9s%s", "ACTOR", "BUSY%", "BUSY s", "MAILBOX",
            "HANDLED", "DEAD", "RESTARTS", "STATE",
            m->metrics_level == 1 ? "(busy: TROUPE_METRICS=timing)" : "");
    size_t *order = top_model_sorted(m, sort);
    for (size_t i = 0; order != NULL && i < m->nactors && i + 1 < actor_rows; i++) {
        const top_actor *a = &m->actors[order[i]];
        char dead[24] = "-"; /* not every runtime counts them per actor */
        if (m->has_actor_dead)
            snprintf(dead, sizeof(dead), "%llu", (unsigned long long)a->dead);
        char mbox[24]; /* an unbounded mailbox without a count: empty or not */
        if (a->mailbox_inexact && a->mailbox > 0)
            snprintf(mbox, sizeof(mbox), ">0");
        else
            snprintf(mbox, sizeof(mbox), "%llu", (unsigned long long)a->mailbox);
        line_at(y++, 0, "%-36.36s %6.1f%% %9.3f %8s %12llu %6s %8llu  %s", a->label, a->busy_pct,
                a->busy_s, mbox, (unsigned long long)a->handled, dead,
                (unsigned long long)a->restarts, a->state);
    }
    free(order);
    if (tree_rows >= 2 && y + 1 < LINES) {
        y++;
        line_at(y++, 1, "SUPERVISION TREE (restarts)");
        for (size_t i = 0; i < m->ntree && y < LINES; i++) {
            const top_tree_row *r = &m->tree[i];
            const top_actor *a = &m->actors[r->actor];
            char extra[64] = "";
            if (a->is_sup)
                snprintf(extra, sizeof(extra), "  [%s, restarted %llu children]", a->role,
                         (unsigned long long)a->children_restarted);
            line_at(y++, 0, "%*s%s%s  restarts %llu%s", 2 * r->depth, "", r->depth ? "`- " : "",
                    a->label, (unsigned long long)a->restarts, extra);
        }
    }
    refresh();
}

static int live(const char *path) {
    top_model *m = top_model_new();
    char *text = NULL;
    char err[512];
    if (m == NULL || fetch(path, "prometheus", &text, err, sizeof(err)) != 0) {
        fprintf(stderr, "troupe-top: %s\n", m == NULL ? "out of memory" : err);
        top_model_free(m);
        return 1;
    }
    top_model_update(m, text, now_ms());
    free(text);

    signal(SIGWINCH, on_winch);
    initscr();
    cbreak();
    noecho();
    curs_set(0);
    keypad(stdscr, TRUE);
    timeout(100);
    int sort = TOP_SORT_BUSY;
    int64_t next = now_ms() + 1000;
    int failed = 0;
    draw(path, m, sort, NULL);
    for (;;) {
        int ch = getch();
        int redraw = 0;
        switch (ch) {
        case 'q':
        case 'Q':
            endwin();
            top_model_free(m);
            return 0;
        case 'b':
            sort = TOP_SORT_BUSY, redraw = 1;
            break;
        case 'm':
            sort = TOP_SORT_MAILBOX, redraw = 1;
            break;
        case 'd':
            sort = TOP_SORT_DEAD, redraw = 1;
            break;
        case 'r':
            sort = TOP_SORT_RESTARTS, redraw = 1;
            break;
        case 'n':
            sort = TOP_SORT_NAME, redraw = 1;
            break;
        case KEY_RESIZE:
            redraw = 1;
            break;
        default:
            break;
        }
        if (resized) {
            resized = 0;
            endwin();
            refresh();
            redraw = 1;
        }
        if (now_ms() >= next) {
            next += 1000;
            if (fetch(path, "prometheus", &text, err, sizeof(err)) == 0) {
                top_model_update(m, text, now_ms());
                free(text);
                failed = 0;
            } else {
                failed = 1; /* keep the last picture, say why it is old */
            }
            redraw = 1;
        }
        if (redraw)
            draw(path, m, sort, failed ? err : NULL);
    }
}

/* ---- once -------------------------------------------------------------- */

static int once(const char *path, const char *req) {
    char *text;
    char err[512];
    if (fetch(path, req, &text, err, sizeof(err)) != 0) {
        fprintf(stderr, "troupe-top: %s\n", err);
        return 1;
    }
    fputs(text, stdout);
    free(text);
    return fflush(stdout) == 0 ? 0 : 1;
}

static void usage(FILE *f) {
    fprintf(f, "usage: troupe-top [--once | --prometheus] PATH\n"
               "  PATH          the program's console socket (TROUPE_CONSOLE)\n"
               "  (no option)   live view, refreshed every second (q quits)\n"
               "  --once        print one plain-text snapshot and exit\n"
               "  --prometheus  print the metrics in Prometheus text format and exit\n");
}

int main(int argc, char **argv) {
    const char *mode = NULL, *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--once") == 0 || strcmp(argv[i], "--prometheus") == 0) {
            mode = argv[i];
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-' || path != NULL) {
            usage(stderr);
            return 2;
        } else {
            path = argv[i];
        }
    }
    if (path == NULL) {
        usage(stderr);
        return 2;
    }
    if (mode == NULL)
        return live(path);
    return once(path, strcmp(mode, "--once") == 0 ? "snapshot" : "prometheus");
}
