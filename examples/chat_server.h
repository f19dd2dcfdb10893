/* examples/chat_server.h - the chat service of examples/chat_server.c, for
 * programs (and tests/test_chat_server.c) that run it in their own runtime. */
#ifndef CHAT_SERVER_H
#define CHAT_SERVER_H

#include <stdint.h>

#include <troupe.h>

typedef struct chat_config {
    uint16_t port; /* 0: a free port; set to the bound port by chat_start */
} chat_config;

/* Start the service's supervision tree in rt. cfg must outlive the service
 * (a restarted acceptor reads its port from it). *out: the top supervisor
 * (owned; stop it with tr_sup_stop). */
int chat_start(tr_runtime *rt, chat_config *cfg, tr_ref **out);

#endif
