/* core/fork.h - what a fork child gets (core/fork.c). */
#ifndef TR_CORE_FORK_H
#define TR_CORE_FORK_H

struct tr_runtime;

/* The process's runtimes: add a made runtime (the atfork handlers are
 * installed with the first), remove one being freed. Any thread. */
void tr__fork_add(struct tr_runtime *rt);
void tr__fork_remove(struct tr_runtime *rt);
/* tr_runtime_free of a runtime of the parent process, in the child. */
void tr__fork_free(struct tr_runtime *rt);

#endif
