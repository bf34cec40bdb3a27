/* tests/fail_threads.c - an LD_PRELOAD shim for test_cli: with
 * RD_FAIL_THREADS_AFTER=N in the environment, pthread_create starts the first
 * N threads and fails every later call with EAGAIN, as when a process has run
 * out of threads or of address space for their stacks (which a test cannot
 * bring about without also starving what the started threads allocate).
 * Built with plain flags: it is loaded into bin/rwkv-decode, the main build's,
 * by the ASan run's test_cli too. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

typedef int (*create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg) {
    static int calls;
    create_fn real = (create_fn)dlsym(RTLD_NEXT, "pthread_create");
    const char *n = getenv("RD_FAIL_THREADS_AFTER");
    if (!real || (n && __atomic_fetch_add(&calls, 1, __ATOMIC_SEQ_CST) >= atoi(n))) return EAGAIN;
    return real(t, attr, fn, arg);
}
