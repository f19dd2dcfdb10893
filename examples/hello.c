/* examples/hello.c - the smallest troupe program: one actor, one message.
 *
 * Spawn a greeter, send it a name from main (a foreign thread), wait for its
 * reply with an ask, then shut the runtime down. */
#include <stdio.h>
#include <string.h>

#include <troupe.h>

enum { MSG_GREET = 1, MSG_GREETING = 2 };

static int greeter_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    if (msg->type != MSG_GREET)
        return 0;
    char text[128];
    int n = snprintf(text, sizeof(text), "hello, %.*s!", (int)msg->size,
                     (const char *)tr_msg_data(msg));
    return tr_reply(msg, MSG_GREETING, text, (size_t)n + 1);
}

int main(void) {
    tr_runtime *rt;
    int rc = tr_runtime_new(&rt, NULL);
    if (rc != 0) {
        fprintf(stderr, "runtime: %s\n", tr_strerror(rc));
        return 1;
    }
    static const tr_behavior greeter = {.receive = greeter_receive};
    tr_ref *ref;
    rc = tr_spawn(rt, &greeter, NULL, &ref);
    if (rc == 0) {
        const char *name = "troupe";
        tr_future *f;
        rc = tr_ask(ref, MSG_GREET, name, strlen(name), &f);
        if (rc == 0) {
            tr_msg *reply;
            rc = tr_future_wait(f, 1000, &reply);
            if (rc == 0) {
                printf("%s\n", (const char *)tr_msg_data(reply));
                tr_msg_free(reply);
            }
            tr_future_release(f);
        }
        tr_ref_release(ref);
    }
    if (rc != 0)
        fprintf(stderr, "hello: %s\n", tr_strerror(rc));
    tr_runtime_free(rt);
    return rc == 0 ? 0 : 1;
}
