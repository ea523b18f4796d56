/* Single-threaded stand-ins for the pthread calls libde265 makes. The WebAssembly build
 * runs libde265 without worker threads (de265_start_worker_threads is never called), so
 * it creates no thread and never has to wait on a condition; wasi-libc (2022) has no
 * pthread.h. */
#ifndef SA_PTHREAD_STUB_H
#define SA_PTHREAD_STUB_H
#include <stddef.h>
#include <sys/types.h> /* wasi-libc declares the pthread types there */
static inline int pthread_mutex_init(pthread_mutex_t *m, const pthread_mutexattr_t *a) { (void)m; (void)a; return 0; }
static inline int pthread_mutex_destroy(pthread_mutex_t *m) { (void)m; return 0; }
static inline int pthread_mutex_lock(pthread_mutex_t *m) { (void)m; return 0; }
static inline int pthread_mutex_unlock(pthread_mutex_t *m) { (void)m; return 0; }
static inline int pthread_cond_init(pthread_cond_t *c, const pthread_condattr_t *a) { (void)c; (void)a; return 0; }
static inline int pthread_cond_destroy(pthread_cond_t *c) { (void)c; return 0; }
static inline int pthread_cond_signal(pthread_cond_t *c) { (void)c; return 0; }
static inline int pthread_cond_broadcast(pthread_cond_t *c) { (void)c; return 0; }
/* Waiting with one thread would wait forever: trap instead (the Go side reports it as
 * a decoder failure). */
static inline int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m) { (void)c; (void)m; __builtin_trap(); }
/* Creating a thread fails: libde265 then reports an error instead of hanging. */
static inline int pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*f)(void *), void *arg) {
    (void)t; (void)a; (void)f; (void)arg; return 11; /* EAGAIN */
}
static inline int pthread_join(pthread_t t, void **r) { (void)t; (void)r; return 0; }
#endif
