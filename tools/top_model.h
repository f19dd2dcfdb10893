/* tools/top_model.h - troupe-top's model: the Prometheus text a console
 * serves, parsed into workers, actors and the supervision tree. No ncurses
 * here, so tests can drive it. */
#ifndef TROUPE_TOP_MODEL_H
#define TROUPE_TOP_MODEL_H

#include <stddef.h>
#include <stdint.h>

/* ---- the text format --------------------------------------------------- */

#define PROM_MAX_LABELS 8

typedef struct prom_sample {
    char name[128];
    size_t nlabels;
    const char *key[PROM_MAX_LABELS]; /* into buf */
    const char *value[PROM_MAX_LABELS];
    double v;
    char buf[1024]; /* label keys and unescaped values */
} prom_sample;

/* Parse one line (without its newline) of Prometheus text format 0.0.4.
 * 1: a sample, in *s; 0: a comment or a blank line; -1: malformed. */
int prom_parse_line(const char *line, size_t len, prom_sample *s);
/* The value of label key in s, or NULL. */
const char *prom_label(const prom_sample *s, const char *key);

/* ---- the model --------------------------------------------------------- */

enum { TOP_SORT_BUSY, TOP_SORT_MAILBOX, TOP_SORT_DEAD, TOP_SORT_RESTARTS, TOP_SORT_NAME };

typedef struct top_worker {
    unsigned id;
    double busy_pct; /* over the last interval (or the runtime's own gauge) */
    double busy_s;   /* busy seconds since start, when exported */
    uint64_t queue, parks, turns, steals;
} top_worker;

typedef struct top_actor {
    char label[96];  /* "name#id" */
    char parent[96]; /* the parent's label, or "" */
    char state[16];
    char role[16];       /* actor, supervisor, pool, pool_worker */
    int is_sup;          /* a supervisor or a pool's router: it restarts others */
    int mailbox_inexact; /* mailbox is only 0 (empty) or 1 (not empty) */
    double busy_s, busy_pct;
    uint64_t mailbox, handled, dead, restarts, children_restarted;
} top_actor;

typedef struct top_tree_row {
    size_t actor; /* index into actors */
    int depth;
} top_tree_row;

typedef struct top_model {
    uint64_t actors_alive, actors_spawned, dead_letters;
    int metrics_level;  /* 1 basic, 2 timing (actors' busy time), 0 unknown */
    int has_actor_dead; /* the runtime exports dead letters per actor */
    top_worker *workers;
    size_t nworkers;
    top_actor *actors;
    size_t nactors;
    top_tree_row *tree; /* supervisors and their descendants, depth first */
    size_t ntree;
    size_t malformed; /* lines that did not parse in the last update */
    /* The previous update, for rates. */
    top_actor *prev;
    size_t nprev;
    top_worker *prevw;
    size_t nprevw;
    int64_t prev_ms;
} top_model;

top_model *top_model_new(void);
void top_model_free(top_model *m);
/* Replace the model's contents with the samples in text (taken at now_ms;
 * rates are over the time since the previous update). 0, or -1 out of
 * memory (the model is then empty). */
int top_model_update(top_model *m, const char *text, int64_t now_ms);
/* The actors' indexes sorted by key (largest first; by name for
 * TOP_SORT_NAME): nactors of them, malloc'd (free it), NULL out of memory. */
size_t *top_model_sorted(const top_model *m, int key);

#endif
