/* Stand-ins for std::mutex and std::lock_guard, which libc++ built for WASI without
 * threads leaves out: de265.cc guards its one-time initialisation with them, and the
 * module runs one thread. hack/build-libde265-wasm.sh renames the uses in de265.cc. */
#ifndef SA_SINGLE_THREAD_H
#define SA_SINGLE_THREAD_H
struct sa_mutex {};
struct sa_lock_guard {
    explicit sa_lock_guard(sa_mutex &m) { (void)m; }
};
#endif
