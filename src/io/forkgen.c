/*
 * forkgen.c: a process-wide counter that every fork() child bumps, so that
 * state filled before a fork (the engine's padding RNG pool) can notice it
 * was copied and drop itself. The one piece of the packet engine that needs
 * the platform's thread library (pthread_atfork), so it lives with the
 * blocking layer in src/io/ and the sans-I/O files stay free of thread,
 * socket, poll and clock code; the engine sees only the two calls declared
 * in engine_int.h.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "engine_int.h"

static atomic_uint fork_gen;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void
on_fork_child(void)
{
    atomic_fetch_add(&fork_gen, 1);
}

static void
register_fork(void)
{
    (void)pthread_atfork(NULL, NULL, on_fork_child);
}

void
sshbpp__fork_watch(void)
{
    (void)pthread_once(&fork_once, register_fork);
}

unsigned
sshbpp__fork_generation(void)
{
    return atomic_load_explicit(&fork_gen, memory_order_relaxed);
}
