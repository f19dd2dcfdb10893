/* base/fence.c - asymmetric barriers (see fence.h). */
#include "base/fence.h"

#include <linux/membarrier.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

int tr__fence_asym;

static pthread_once_t once = PTHREAD_ONCE_INIT;

static int membarrier(int cmd) {
    return (int)syscall(SYS_membarrier, cmd, 0, 0);
}

static void register_once(void) {
    int cmds = membarrier(MEMBARRIER_CMD_QUERY);
    if (cmds < 0 || !(cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED))
        return;
    if (membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) != 0)
        return;
    /* Published before any runtime exists that could use it: pthread_once
     * orders it before every caller's return. */
    ck_pr_store_int(&tr__fence_asym, 1);
}

void tr__fence_init(void) {
    pthread_once(&once, register_once);
}

void tr__fence_heavy(void) {
    if (ck_pr_load_int(&tr__fence_asym) && membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0)
        return;
    tr__fence_full();
}
