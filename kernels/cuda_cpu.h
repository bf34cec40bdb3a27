/* kernels/cuda_cpu.h - the part of CUDA that kernels/ uses, on the CPU, so
 * the .cu sources compile with a C++ compiler (-DRD_CUDA_CPU) and the
 * kernel parity tests run in CI without a GPU (build/tests/test_kernels_cpu).
 *
 * Each block runs by itself; its threads are cooperative fibers on the
 * calling thread's stack pool (ucontext to start, _setjmp/_longjmp to
 * switch). A fiber runs until __syncthreads or a warp shuffle, then the
 * next fiber runs; a barrier opens when every live thread of the block (of
 * the warp, for a shuffle) is waiting at it. Threads waiting at different
 * barriers abort with the kernel's name: a divergent barrier is a bug on the
 * GPU too. __shared__ is a function-local static (blocks run one at a time).
 *
 * Device memory is host memory, filled with 0xff bytes (NaN floats, -1
 * ints) when allocated so that reading what no one wrote shows up; a
 * device of RD_CPU_DEVICE_BYTES (2 GiB) answers cudaErrorMemoryAllocation
 * beyond that. Launches check CUDA's grid and block limits and report
 * cudaErrorInvalidConfiguration through cudaGetLastError, as the GPU.
 * Not emulated: memory spaces (a host pointer passed to a kernel works
 * here), warp-synchronous code without shuffles, timing. */
#ifndef RD_CUDA_CPU_H
#define RD_CUDA_CPU_H

#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>

#include <tuple>
#include <utility>

#include "common/half.h"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __restrict__ __restrict
#define __shared__ static thread_local

/* ---------- vector and half types ---------- */

struct uint3 { unsigned x, y, z; };
struct dim3 {
    unsigned x, y, z;
    dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
struct float2 { float x, y; };
struct float4 { float x, y, z, w; };
struct uint2 { unsigned x, y; };
struct __half { uint16_t bits; };
struct __nv_bfloat16 { uint16_t bits; };
struct __half2 { __half x, y; };
struct __nv_bfloat162 { __nv_bfloat16 x, y; };

inline float4 make_float4(float a, float b, float c, float d) { return {a, b, c, d}; }
inline float __half2float(__half h) { return rd_f16_to_f32(h.bits); }
inline __half __float2half_rn(float f) { return {rd_f32_to_f16(f)}; }
inline float __bfloat162float(__nv_bfloat16 h) { return rd_bf16_to_f32(h.bits); }
inline __nv_bfloat16 __float2bfloat16_rn(float f) { return {rd_f32_to_bf16(f)}; }
inline float2 __half22float2(__half2 h) { return {__half2float(h.x), __half2float(h.y)}; }
inline __half2 __floats2half2_rn(float a, float b) { return {__float2half_rn(a), __float2half_rn(b)}; }
inline float2 __bfloat1622float2(__nv_bfloat162 h) { return {__bfloat162float(h.x), __bfloat162float(h.y)}; }
inline __nv_bfloat162 __floats2bfloat162_rn(float a, float b) { return {__float2bfloat16_rn(a), __float2bfloat16_rn(b)}; }

inline thread_local uint3 threadIdx, blockIdx, blockDim, gridDim; /* trivial types: cheap TLS */

/* ---------- runtime API ---------- */

typedef int cudaError_t;
enum {
    cudaSuccess = 0, cudaErrorInvalidValue = 1, cudaErrorMemoryAllocation = 2,
    cudaErrorInvalidConfiguration = 9, cudaErrorNoDevice = 100
};
enum cudaMemcpyKind { cudaMemcpyHostToHost, cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice };
enum cudaDeviceAttr { cudaDevAttrMemoryClockRate, cudaDevAttrGlobalMemoryBusWidth };
struct cudaDeviceProp {
    char name[256];
    int major, minor, multiProcessorCount, l2CacheSize;
    size_t totalGlobalMem;
};

#ifndef RD_CPU_DEVICE_BYTES
#define RD_CPU_DEVICE_BYTES ((size_t)2 << 30)
#endif

namespace rd_cpu {
inline thread_local cudaError_t last_error = cudaSuccess;
inline size_t used_bytes = 0; /* tests allocate from one thread */
}

inline const char *cudaGetErrorString(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    default: return "unknown error";
    }
}
inline cudaError_t cudaGetLastError(void) {
    cudaError_t e = rd_cpu::last_error;
    rd_cpu::last_error = cudaSuccess;
    return e;
}
inline cudaError_t cudaPeekAtLastError(void) { return rd_cpu::last_error; }
inline cudaError_t cudaMalloc(void **p, size_t n) {
    *p = NULL;
    if (n > RD_CPU_DEVICE_BYTES - rd_cpu::used_bytes) return cudaErrorMemoryAllocation;
    size_t *b = (size_t *)malloc(n + 64);
    if (!b) return cudaErrorMemoryAllocation;
    memset(b + 8, 0xff, n);
    b[0] = n;
    rd_cpu::used_bytes += n;
    *p = b + 8;
    return cudaSuccess;
}
inline cudaError_t cudaFree(void *p) {
    if (p) {
        size_t *b = (size_t *)p - 8;
        rd_cpu::used_bytes -= b[0];
        free(b);
    }
    return cudaSuccess;
}
inline cudaError_t cudaMemcpy(void *d, const void *s, size_t n, cudaMemcpyKind) {
    if (n) memmove(d, s, n);
    return cudaSuccess;
}
inline cudaError_t cudaMemset(void *d, int v, size_t n) {
    memset(d, v, n);
    return cudaSuccess;
}
inline cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; }
inline cudaError_t cudaGetDeviceCount(int *n) {
    *n = 1;
    return cudaSuccess;
}
inline cudaError_t cudaGetDevice(int *d) {
    *d = 0;
    return cudaSuccess;
}
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int) {
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "cpu emulation (kernels/cuda_cpu.h)");
    p->major = 9, p->multiProcessorCount = 1, p->l2CacheSize = 1 << 20;
    p->totalGlobalMem = RD_CPU_DEVICE_BYTES;
    return cudaSuccess;
}
inline cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr a, int) {
    *v = a == cudaDevAttrMemoryClockRate ? 1000000 : 64;
    return cudaSuccess;
}

/* Events: host clock readings (cudaEventElapsedTime in ms). */
typedef struct rd_cpu_event { double t; } *cudaEvent_t;
inline cudaError_t cudaEventCreate(cudaEvent_t *e) {
    *e = (cudaEvent_t)calloc(1, sizeof **e);
    return *e ? cudaSuccess : cudaErrorMemoryAllocation;
}
inline cudaError_t cudaEventDestroy(cudaEvent_t e) {
    free(e);
    return cudaSuccess;
}
inline cudaError_t cudaEventRecord(cudaEvent_t e, int) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    e->t = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
    return cudaSuccess;
}
inline cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
inline cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b) {
    *ms = (float)((b->t - a->t) * 1e3);
    return cudaSuccess;
}

/* ---------- threads of a block as fibers ---------- */

namespace rd_cpu {

enum { RUN, AT_BAR, AT_WARP, DONE };
enum { STACK = 64 << 10, MAX_THREADS = 1024 };

struct fiber {
    ucontext_t uc;
    jmp_buf jb;
    int state, started;
    unsigned shfl; /* shuffles done: picks the exchange buffer */
    char *stack;
};

struct sched {
    fiber f[MAX_THREADS];
    int n, cur;
    jmp_buf main;
    void (*call)(void *);
    void *ctx;
    uint64_t xchg[2][MAX_THREADS];
    const char *kernel;
};

inline thread_local sched *S;

inline void set_tid(int t) {
    threadIdx.x = (unsigned)t % blockDim.x;
    threadIdx.y = (unsigned)t / blockDim.x % blockDim.y;
    threadIdx.z = (unsigned)t / (blockDim.x * blockDim.y);
}

/* A fiber runs blocks' thread bodies forever: one per launch of its slot. */
inline void entry(void) {
    sched *s = S;
    for (;;) {
        fiber *me = &s->f[s->cur];
        s->call(s->ctx);
        me->state = DONE;
        if (!_setjmp(me->jb)) _longjmp(s->main, 1);
    }
}

/* From the scheduler into fiber t until it waits or finishes. */
__attribute__((noinline)) inline void resume(sched *s, int t) {
    fiber *f = &s->f[t];
    s->cur = t;
    set_tid(t);
    if (_setjmp(s->main)) return;
    if (f->started) _longjmp(f->jb, 1);
    f->started = 1;
    if (!f->stack && !(f->stack = (char *)malloc(STACK))) {
        fprintf(stderr, "cuda_cpu: out of memory for a thread stack\n");
        abort();
    }
    getcontext(&f->uc);
    f->uc.uc_stack.ss_sp = f->stack;
    f->uc.uc_stack.ss_size = STACK;
    f->uc.uc_link = NULL;
    makecontext(&f->uc, entry, 0);
    setcontext(&f->uc);
}

/* From the running fiber back to the scheduler, waiting in state `why`. */
inline void wait(int why) {
    sched *s = S;
    fiber *me = &s->f[s->cur];
    me->state = why;
    if (!_setjmp(me->jb)) _longjmp(s->main, 1);
}

/* Opens the barriers that every live thread waits at; 0 when none can open. */
inline int release(sched *s) {
    int opened = 0;
    for (int w0 = 0; w0 < s->n; w0 += 32) {
        int end = w0 + 32 < s->n ? w0 + 32 : s->n, waiting = 0, live = 0;
        for (int t = w0; t < end; t++) live += s->f[t].state != DONE, waiting += s->f[t].state == AT_WARP;
        if (waiting && waiting == live) {
            for (int t = w0; t < end; t++)
                if (s->f[t].state == AT_WARP) s->f[t].state = RUN;
            opened = 1;
        }
    }
    if (opened) return 1;
    int live = 0, bar = 0;
    for (int t = 0; t < s->n; t++) live += s->f[t].state != DONE, bar += s->f[t].state == AT_BAR;
    if (bar && bar == live) {
        for (int t = 0; t < s->n; t++)
            if (s->f[t].state == AT_BAR) s->f[t].state = RUN;
        return 1;
    }
    return 0;
}

inline void run_block(sched *s) {
    for (int t = 0; t < s->n; t++) s->f[t].state = RUN, s->f[t].shfl = 0;
    for (;;) {
        int live = 0;
        for (int t = 0; t < s->n; t++)
            if (s->f[t].state == RUN) resume(s, t);
        for (int t = 0; t < s->n; t++) live += s->f[t].state != DONE;
        if (!live) return;
        if (!release(s)) {
            fprintf(stderr, "cuda_cpu: %s: block (%u,%u,%u): threads wait at different barriers\n", s->kernel,
                    blockIdx.x, blockIdx.y, blockIdx.z);
            abort();
        }
    }
}

inline void launch(const char *kernel, dim3 g, dim3 b, void (*call)(void *), void *ctx) {
    unsigned long long nt = (unsigned long long)b.x * b.y * b.z;
    if (!g.x || !g.y || !g.z || g.x > 0x7fffffffu || g.y > 65535 || g.z > 65535 || !nt || nt > MAX_THREADS ||
        b.z > 64) {
        last_error = cudaErrorInvalidConfiguration;
        return;
    }
    if (!S && !(S = (sched *)calloc(1, sizeof(sched)))) {
        fprintf(stderr, "cuda_cpu: out of memory for the scheduler\n");
        abort();
    }
    sched *s = S;
    s->n = (int)nt, s->call = call, s->ctx = ctx, s->kernel = kernel;
    gridDim = {g.x, g.y, g.z}, blockDim = {b.x, b.y, b.z};
    for (unsigned z = 0; z < g.z; z++)
        for (unsigned y = 0; y < g.y; y++)
            for (unsigned x = 0; x < g.x; x++) {
                blockIdx.x = x, blockIdx.y = y, blockIdx.z = z;
                run_block(s);
            }
}

template <typename F> void call_thunk(void *p) { (*(F *)p)(); }

template <typename... P> struct launcher {
    const char *name;
    dim3 g, b;
    void (*k)(P...);
    template <typename... A> void operator()(A &&...a) {
        std::tuple<P...> args(std::forward<A>(a)...);
        auto body = [&]() { std::apply(k, args); };
        launch(name, g, b, call_thunk<decltype(body)>, &body);
    }
};

} // namespace rd_cpu

template <typename... P> rd_cpu::launcher<P...> rd_cpu_launch(const char *name, dim3 g, dim3 b, void (*k)(P...)) {
    return {name, g, b, k};
}

inline void __syncthreads(void) { rd_cpu::wait(rd_cpu::AT_BAR); }

template <typename T> T __shfl_xor_sync(unsigned mask, T v, int lane_mask) {
    static_assert(sizeof(T) <= 8, "shuffle of at most 8 bytes");
    (void)mask;
    rd_cpu::sched *s = rd_cpu::S;
    int me = s->cur, g = (int)(s->f[me].shfl++ & 1), other = me ^ lane_mask;
    memcpy(&s->xchg[g][me], &v, sizeof v);
    rd_cpu::wait(rd_cpu::AT_WARP);
    if (other >= s->n || (other >> 5) != (me >> 5)) return v;
    T r;
    memcpy(&r, &s->xchg[g][other], sizeof r);
    return r;
}

/* KERN_LAUNCH(grid, block, kernel)(args...): kernel<<<grid, block>>>(args...) */
#define KERN_LAUNCH(g, b, ...) rd_cpu_launch(#__VA_ARGS__, dim3(g), dim3(b), __VA_ARGS__)

#endif
