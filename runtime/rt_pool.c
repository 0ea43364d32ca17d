/*
 * rt_pool.c: worker threads that share one job at a time.
 *
 * The caller publishes a job (function, range, chunk size) under a mutex and
 * bumps a generation counter; workers wake, take chunks with an atomic
 * counter, and the caller takes chunks too. The caller returns once every
 * worker has checked back in, so a job's arguments may live on its stack.
 */
#include "rt_pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct rt_pool {
  int n_threads;
  pthread_t *threads;
  pthread_mutex_t mu;
  pthread_cond_t wake, done;
  uint64_t generation;
  int busy; /* workers still inside the current job */
  int stop;
  /* current job */
  rt_task_fn fn;
  void *arg;
  int64_t n, chunk;
  atomic_llong next;
};

typedef struct {
  rt_pool *pool;
  int index;
} worker_arg;

static void run_chunks(rt_pool *p, int thread) {
  for (;;) {
    int64_t begin = atomic_fetch_add(&p->next, p->chunk);
    if (begin >= p->n) break;
    int64_t end = begin + p->chunk < p->n ? begin + p->chunk : p->n;
    p->fn(p->arg, begin, end, thread);
  }
}

static void *worker_main(void *v) {
  worker_arg *wa = v;
  rt_pool *p = wa->pool;
  int index = wa->index;
  free(wa);
  uint64_t seen = 0;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    while (!p->stop && p->generation == seen) pthread_cond_wait(&p->wake, &p->mu);
    if (p->stop) break;
    seen = p->generation;
    pthread_mutex_unlock(&p->mu);
    run_chunks(p, index);
    pthread_mutex_lock(&p->mu);
    if (--p->busy == 0) pthread_cond_signal(&p->done);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

rt_pool *rt_pool_create(int n_threads) {
  if (n_threads <= 0) {
    const char *env = getenv("DLC_THREADS");
    n_threads = env ? atoi(env) : 0;
    if (n_threads <= 0) {
      long cores = sysconf(_SC_NPROCESSORS_ONLN);
      n_threads = cores > 0 ? (int)cores : 1;
    }
  }
  if (n_threads > 256) n_threads = 256;
  rt_pool *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->n_threads = n_threads;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->wake, NULL);
  pthread_cond_init(&p->done, NULL);
  atomic_init(&p->next, 0);
  if (n_threads > 1) {
    p->threads = calloc((size_t)n_threads - 1, sizeof *p->threads);
    if (!p->threads) {
      free(p);
      return NULL;
    }
    for (int i = 1; i < n_threads; i++) {
      worker_arg *wa = malloc(sizeof *wa);
      if (wa) *wa = (worker_arg){p, i};
      if (!wa || pthread_create(&p->threads[i - 1], NULL, worker_main, wa) != 0) {
        free(wa);
        p->n_threads = i; /* destroy joins the ones that started */
        rt_pool_destroy(p);
        return NULL;
      }
    }
  }
  return p;
}

void rt_pool_destroy(rt_pool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  p->stop = 1;
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->mu);
  for (int i = 1; i < p->n_threads; i++) pthread_join(p->threads[i - 1], NULL);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->wake);
  pthread_cond_destroy(&p->done);
  free(p->threads);
  free(p);
}

int rt_pool_size(const rt_pool *p) { return p ? p->n_threads : 1; }

void rt_pool_run(rt_pool *p, int64_t n, int64_t grain, rt_task_fn fn, void *arg) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  int nt = rt_pool_size(p);
  if (nt == 1 || n <= grain) {
    fn(arg, 0, n, 0);
    return;
  }
  /* About four chunks per thread balances uneven chunks without much overhead. */
  int64_t chunk = (n + (int64_t)nt * 4 - 1) / ((int64_t)nt * 4);
  if (chunk < grain) chunk = grain;
  pthread_mutex_lock(&p->mu);
  p->fn = fn;
  p->arg = arg;
  p->n = n;
  p->chunk = chunk;
  atomic_store(&p->next, 0);
  p->busy = nt - 1;
  p->generation++;
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->mu);
  run_chunks(p, 0);
  pthread_mutex_lock(&p->mu);
  while (p->busy > 0) pthread_cond_wait(&p->done, &p->mu);
  pthread_mutex_unlock(&p->mu);
}
