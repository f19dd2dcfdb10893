/* tools/top_model.c - troupe-top's model (top_model.h).
 *
 * The console's `prometheus` reply is the one source: a line parser for the
 * text format (0.0.4), then the samples troupe exports are put into rows by
 * name: troupe_worker_*{worker="N"} into workers, troupe_actor_*{actor=
 * "name#id"} into actors (troupe_actor_info carries each actor's parent,
 * state and kind, from which the supervision tree is drawn), the runtime's
 * totals into the header. Samples it does not know are skipped, so a newer
 * runtime's extra metrics do not break an older troupe-top. Busy % comes from
 * the difference of two updates' busy seconds. */
#include "top_model.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* ---- the text format --------------------------------------------------- */

static int name_char(int c, int first) {
    return isalpha(c) || c == '_' || c == ':' || (!first && isdigit(c));
}

int prom_parse_line(const char *line, size_t len, prom_sample *s) {
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    if (i == len || line[i] == '#')
        return 0;
    size_t n = 0;
    while (i < len && name_char((unsigned char)line[i], n == 0)) {
        if (n + 1 >= sizeof(s->name))
            return -1;
        s->name[n++] = line[i++];
    }
    if (n == 0)
        return -1;
    s->name[n] = '\0';
    s->nlabels = 0;
    size_t b = 0; /* into s->buf */
    if (i < len && line[i] == '{') {
        i++;
        for (;;) {
            if (i < len && line[i] == '}') {
                i++;
                break;
            }
            if (s->nlabels == PROM_MAX_LABELS)
                return -1;
            s->key[s->nlabels] = s->buf + b;
            size_t k = 0;
            while (i < len && name_char((unsigned char)line[i], k == 0)) {
                if (b + 1 >= sizeof(s->buf))
                    return -1;
                s->buf[b++] = line[i++];
                k++;
            }
            if (k == 0 || i + 1 >= len || line[i] != '=' || line[i + 1] != '"')
                return -1;
            s->buf[b++] = '\0';
            i += 2;
            s->value[s->nlabels] = s->buf + b;
            for (;;) {
                if (i >= len || b + 1 >= sizeof(s->buf))
                    return -1;
                char c = line[i++];
                if (c == '"')
                    break;
                if (c == '\\') {
                    if (i >= len)
                        return -1;
                    c = line[i++];
                    if (c == 'n')
                        c = '\n';
                    else if (c != '\\' && c != '"')
                        return -1;
                }
                s->buf[b++] = c;
            }
            s->buf[b++] = '\0';
            s->nlabels++;
            if (i < len && line[i] == ',')
                i++;
            else if (i >= len || line[i] != '}')
                return -1;
        }
    }
    if (i >= len || line[i] != ' ')
        return -1;
    while (i < len && line[i] == ' ')
        i++;
    char num[64];
    size_t m = 0;
    while (i < len && line[i] != ' ' && m + 1 < sizeof(num))
        num[m++] = line[i++];
    num[m] = '\0';
    if (m == 0)
        return -1;
    if (strcmp(num, "+Inf") == 0 || strcmp(num, "-Inf") == 0 || strcmp(num, "NaN") == 0) {
        s->v = strtod(num[0] == '+' ? num + 1 : num, NULL);
    } else {
        char *end;
        s->v = strtod(num, &end);
        if (*end != '\0')
            return -1;
    }
    /* An optional timestamp: an integer. */
    while (i < len && line[i] == ' ')
        i++;
    if (i < len) {
        if (line[i] == '-')
            i++;
        size_t digits = 0;
        while (i < len && isdigit((unsigned char)line[i]))
            i++, digits++;
        if (digits == 0 || i != len)
            return -1;
    }
    return 1;
}

const char *prom_label(const prom_sample *s, const char *key) {
    for (size_t i = 0; i < s->nlabels; i++)
        if (strcmp(s->key[i], key) == 0)
            return s->value[i];
    return NULL;
}

/* ---- the model --------------------------------------------------------- */

top_model *top_model_new(void) {
    return calloc(1, sizeof(top_model));
}

void top_model_free(top_model *m) {
    if (m == NULL)
        return;
    free(m->workers);
    free(m->actors);
    free(m->tree);
    free(m->prev);
    free(m->prevw);
    free(m);
}

static void copy_str(char *dst, size_t cap, const char *src) {
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Growable arrays: find a row by key or add it. */
static top_worker *worker_row(top_model *m, unsigned id, size_t *cap) {
    for (size_t i = 0; i < m->nworkers; i++)
        if (m->workers[i].id == id)
            return &m->workers[i];
    if (m->nworkers == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        top_worker *w = realloc(m->workers, c * sizeof(*w));
        if (w == NULL)
            return NULL;
        m->workers = w;
        *cap = c;
    }
    top_worker *w = &m->workers[m->nworkers++];
    memset(w, 0, sizeof(*w));
    w->id = id;
    w->busy_pct = -1;
    return w;
}

static int cmp_label(const void *a, const void *b) {
    return strcmp(((const top_actor *)a)->label, ((const top_actor *)b)->label);
}

static top_actor *find_actor(top_actor *rows, size_t n, const char *label) {
    if (n == 0)
        return NULL;
    top_actor key;
    copy_str(key.label, sizeof(key.label), label);
    return bsearch(&key, rows, n, sizeof(top_actor), cmp_label);
}

/* Finding an actor's row: rows [0, sorted) are sorted by label and
 * searched by bisection, the few added since (at most 32) one by one; past
 * 32 the whole array is sorted again. */
typedef struct actor_index {
    size_t cap, sorted; /* rows [0, sorted) are sorted by label */
} actor_index;

static top_actor *actor_row(top_model *m, actor_index *ix, const char *label) {
    top_actor *a = find_actor(m->actors, ix->sorted, label);
    if (a != NULL)
        return a;
    char key[sizeof(a->label)];
    copy_str(key, sizeof(key), label);
    for (size_t i = ix->sorted; i < m->nactors; i++)
        if (strcmp(m->actors[i].label, key) == 0)
            return &m->actors[i];
    if (m->nactors == ix->cap) {
        size_t c = ix->cap ? ix->cap * 2 : 64;
        top_actor *r = realloc(m->actors, c * sizeof(*r));
        if (r == NULL)
            return NULL;
        m->actors = r;
        ix->cap = c;
    }
    a = &m->actors[m->nactors++];
    memset(a, 0, sizeof(*a));
    a->busy_pct = -1;
    copy_str(a->label, sizeof(a->label), label);
    if (m->nactors - ix->sorted > 32) { /* keep the linear part short */
        qsort(m->actors, m->nactors, sizeof(*a), cmp_label);
        ix->sorted = m->nactors;
        a = find_actor(m->actors, m->nactors, label);
    }
    return a;
}

static uint64_t u64(double v) {
    return v > 0 ? (uint64_t)v : 0;
}

static int apply(top_model *m, const prom_sample *s, size_t *wcap, actor_index *ix) {
    const char *n = s->name;
    if (strcmp(n, "troupe_actors_alive") == 0)
        m->actors_alive = u64(s->v);
    else if (strcmp(n, "troupe_actors_spawned_total") == 0)
        m->actors_spawned = u64(s->v);
    else if (strcmp(n, "troupe_metrics_level") == 0)
        m->metrics_level = (int)s->v;
    else if (strcmp(n, "troupe_dead_letters_total") == 0)
        m->dead_letters += u64(s->v); /* summed over its reasons */
    const char *wl = prom_label(s, "worker");
    if (strncmp(n, "troupe_worker_", 14) == 0 && wl != NULL) {
        top_worker *w = worker_row(m, (unsigned)strtoul(wl, NULL, 10), wcap);
        if (w == NULL)
            return -1;
        n += 14;
        if (strcmp(n, "busy_ratio") == 0)
            w->busy_pct = 100.0 * s->v;
        else if (strcmp(n, "busy_seconds_total") == 0)
            w->busy_s = s->v;
        else if (strcmp(n, "run_queue") == 0)
            w->queue = u64(s->v);
        else if (strcmp(n, "parks_total") == 0)
            w->parks = u64(s->v);
        else if (strcmp(n, "turns_total") == 0)
            w->turns = u64(s->v);
        else if (strcmp(n, "steals_total") == 0)
            w->steals = u64(s->v);
        return 0;
    }
    const char *al = prom_label(s, "actor");
    if (strncmp(n, "troupe_actor_", 13) == 0 && al != NULL) {
        top_actor *a = actor_row(m, ix, al);
        if (a == NULL)
            return -1;
        n += 13;
        if (strcmp(n, "info") == 0) {
            const char *p = prom_label(s, "parent"), *st = prom_label(s, "state"),
                       *r = prom_label(s, "role");
            copy_str(a->parent, sizeof(a->parent), p ? p : "");
            copy_str(a->state, sizeof(a->state), st ? st : "");
            copy_str(a->role, sizeof(a->role), r ? r : "");
            const char *ex = prom_label(s, "mailbox_exact");
            a->mailbox_inexact = ex != NULL && strcmp(ex, "0") == 0;
            a->is_sup = r != NULL && (strcmp(r, "supervisor") == 0 || strcmp(r, "pool") == 0);
        } else if (strcmp(n, "busy_seconds_total") == 0) {
            a->busy_s = s->v;
        } else if (strcmp(n, "mailbox_depth") == 0) {
            a->mailbox = u64(s->v);
        } else if (strcmp(n, "messages_total") == 0) {
            a->handled = u64(s->v);
        } else if (strcmp(n, "dead_letters_total") == 0) {
            a->dead = u64(s->v);
            m->has_actor_dead = 1;
        } else if (strcmp(n, "restarts_total") == 0) {
            a->restarts = u64(s->v);
        } else if (strcmp(n, "children_restarted_total") == 0) {
            a->children_restarted = u64(s->v);
        }
    }
    return 0;
}

static int cmp_worker(const void *a, const void *b) {
    unsigned x = ((const top_worker *)a)->id, y = ((const top_worker *)b)->id;
    return x < y ? -1 : x > y;
}

/* Rates against the previous update. */
static void rates(top_model *m, int64_t now_ms) {
    double dt = m->prev_ms > 0 && now_ms > m->prev_ms ? (double)(now_ms - m->prev_ms) / 1000 : 0;
    for (size_t i = 0; i < m->nactors; i++) {
        top_actor *a = &m->actors[i];
        if (dt <= 0) {
            a->busy_pct = 0;
            continue;
        }
        /* An actor missing from the previous update was spawned since (a
         * restarted child is a new actor, with a new id): all its busy time
         * is from this interval. */
        const top_actor *p = find_actor(m->prev, m->nprev, a->label);
        double before = p != NULL && p->busy_s <= a->busy_s ? p->busy_s : 0;
        a->busy_pct = 100.0 * (a->busy_s - before) / dt;
    }
    for (size_t i = 0; i < m->nworkers; i++) {
        top_worker *w = &m->workers[i];
        if (w->busy_pct >= 0)
            continue; /* the runtime said */
        w->busy_pct = 0;
        for (size_t j = 0; dt > 0 && j < m->nprevw; j++)
            if (m->prevw[j].id == w->id && w->busy_s >= m->prevw[j].busy_s)
                w->busy_pct = 100.0 * (w->busy_s - m->prevw[j].busy_s) / dt;
    }
}

/* The supervision tree: every actor with a parent or with children, depth
 * first from the roots (actors without a known parent), children by label. */
static int build_tree(top_model *m) {
    free(m->tree);
    m->tree = NULL;
    m->ntree = 0;
    if (m->nactors == 0)
        return 0;
    char *in_tree = calloc(m->nactors, 1);
    size_t *stack = malloc(m->nactors * sizeof(size_t));
    int *depth = malloc(m->nactors * sizeof(int));
    m->tree = malloc(m->nactors * sizeof(top_tree_row));
    if (in_tree == NULL || stack == NULL || depth == NULL || m->tree == NULL) {
        free(in_tree), free(stack), free(depth);
        return -1;
    }
    for (size_t i = 0; i < m->nactors; i++) {
        const top_actor *a = &m->actors[i];
        if (a->parent[0] != '\0') {
            top_actor *p = find_actor(m->actors, m->nactors, a->parent);
            if (p != NULL)
                in_tree[i] = in_tree[p - m->actors] = 1;
        }
        if (a->is_sup)
            in_tree[i] = 1;
    }
    /* Rows are sorted by label, so children come out in label order. */
    for (size_t r = 0; r < m->nactors; r++) {
        const top_actor *root = &m->actors[r];
        if (!in_tree[r] ||
            (root->parent[0] && find_actor(m->actors, m->nactors, root->parent) != NULL))
            continue;
        size_t sp = 0;
        stack[sp] = r;
        depth[sp++] = 0;
        while (sp > 0 && m->ntree < m->nactors) {
            sp--;
            size_t at = stack[sp];
            int d = depth[sp];
            m->tree[m->ntree++] = (top_tree_row){.actor = at, .depth = d};
            for (size_t c = m->nactors; c-- > 0;) /* reversed: popped in order */
                if (strcmp(m->actors[c].parent, m->actors[at].label) == 0 && sp < m->nactors) {
                    stack[sp] = c;
                    depth[sp++] = d + 1;
                }
        }
    }
    free(in_tree), free(stack), free(depth);
    return 0;
}

int top_model_update(top_model *m, const char *text, int64_t now_ms) {
    /* This update's rows become the previous ones. */
    free(m->prev);
    free(m->prevw);
    m->prev = m->actors;
    m->nprev = m->nactors;
    m->prevw = m->workers;
    m->nprevw = m->nworkers;
    m->actors = NULL;
    m->workers = NULL;
    m->nactors = m->nworkers = 0;
    m->actors_alive = m->actors_spawned = m->dead_letters = 0;
    m->metrics_level = 0;
    m->has_actor_dead = 0;
    m->malformed = 0;
    size_t wcap = 0;
    actor_index ix = {0};
    prom_sample *s = malloc(sizeof(*s));
    int rc = s == NULL ? -1 : 0;
    for (const char *p = text; rc == 0 && *p != '\0';) {
        size_t len = strcspn(p, "\n");
        int r = prom_parse_line(p, len, s);
        if (r < 0)
            m->malformed++;
        else if (r == 1 && apply(m, s, &wcap, &ix) != 0)
            rc = -1;
        p += len;
        if (*p == '\n')
            p++;
    }
    free(s);
    if (m->nactors > 0)
        qsort(m->actors, m->nactors, sizeof(top_actor), cmp_label);
    if (m->nworkers > 0)
        qsort(m->workers, m->nworkers, sizeof(top_worker), cmp_worker);
    if (rc == 0)
        rc = build_tree(m);
    rates(m, now_ms);
    m->prev_ms = now_ms;
    if (rc != 0) {
        m->nactors = m->nworkers = m->ntree = 0;
        return -1;
    }
    return 0;
}

static const top_model *sort_model;
static int sort_key;

static int cmp_order(const void *pa, const void *pb) {
    const top_actor *a = &sort_model->actors[*(const size_t *)pa];
    const top_actor *b = &sort_model->actors[*(const size_t *)pb];
    double x = 0, y = 0;
    switch (sort_key) {
    case TOP_SORT_BUSY: /* this interval's busy %, then all-time busy time */
        x = a->busy_pct * 1e9 + a->busy_s, y = b->busy_pct * 1e9 + b->busy_s;
        break;
    case TOP_SORT_MAILBOX:
        x = (double)a->mailbox, y = (double)b->mailbox;
        break;
    case TOP_SORT_DEAD:
        x = (double)a->dead, y = (double)b->dead;
        break;
    case TOP_SORT_RESTARTS:
        x = (double)a->restarts, y = (double)b->restarts;
        break;
    default:
        break;
    }
    if (x != y)
        return x > y ? -1 : 1;
    return strcmp(a->label, b->label);
}

size_t *top_model_sorted(const top_model *m, int key) {
    size_t n = m->nactors;
    size_t *order = malloc((n ? n : 1) * sizeof(size_t));
    if (order == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    /* qsort has no context argument; troupe-top is single-threaded. */
    sort_model = m;
    sort_key = key;
    qsort(order, n, sizeof(size_t), cmp_order);
    return order;
}
