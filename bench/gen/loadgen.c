/*
 * loadgen: a small load generator for socketkit's message services that is
 * meant never to be the bottleneck (epoll, nonblocking sockets, no allocation
 * on the hot path, optionally one epoll loop per thread).
 *
 * Modes
 *   tcp  C concurrent clients; each loops: connect, send "Hello" (no newline),
 *        read until the reply is complete (--expect bytes, or the peer closes),
 *        close. Rate = completed exchanges per second; latency = connect start
 *        to reply complete.
 *   udp  S senders, each a connected UDP socket with exactly one datagram in
 *        flight: send, wait for the reply (or --timeout-ms: counted lost, sent
 *        again), repeat. Latency = send to reply.
 *
 * Bounds: --duration seconds (measured part), --warmup seconds before it,
 * --count total completed operations (0 = no limit). Prints ONE JSON line,
 * including the generator's own CPU time (getrusage) so a saturated generator
 * can be told from a slow server.
 *
 * Build: gcc -O2 -pthread -o loadgen loadgen.c
 * Usage: loadgen tcp|udp --host 127.0.0.1 --port N [-c 32] [-t 1] [--duration 5]
 *        [--warmup 0.5] [--count 0] [--expect 39] [--payload Hello] [--timeout-ms 200]
 *        [--cpu N]  (pin thread i to cpu (N+i) % ncpu; default: no pinning)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HIST_US 200000 /* 1 us buckets up to 200 ms; beyond counts in the last bucket */
#define MAX_CLIENTS 4096

static struct {
  int udp;
  struct sockaddr_storage addr;
  socklen_t addrlen;
  int clients, threads;
  double duration, warmup;
  long long count;
  int expect;
  const char *payload;
  size_t payload_len;
  int timeout_ms;
  int cpu;
} cfg = {0, {0}, 0, 32, 1, 5.0, 0.5, 0, 39, "Hello", 5, 200, -1};

static double t_start, t_measure, t_end; /* monotonic seconds */
static volatile long long g_total;       /* completed, all threads (for --count) */

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

enum { ST_CONNECTING, ST_READING };

typedef struct {
  int fd;
  int state;
  int got;
  double started;
} client_t;

typedef struct {
  int id, n;
  client_t cl[MAX_CLIENTS];
  uint32_t *hist;
  long long completed, errors, lost, timeouts;
  double lat_sum;
} worker_t;

static void record(worker_t *w, double t0, double t1) {
  if (t1 < t_measure || t1 > t_end) return; /* warm-up or past the end */
  double us = (t1 - t0) * 1e6;
  long b = (long)us;
  if (b >= HIST_US) b = HIST_US - 1;
  w->hist[b]++;
  w->completed++;
  w->lat_sum += us;
  __atomic_add_fetch(&g_total, 1, __ATOMIC_RELAXED);
}

/* ---------------------------------------------------------------- TCP --- */

static int tcp_start(worker_t *w, int ep, int i) {
  client_t *c = &w->cl[i];
  int fd = socket(cfg.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->fd = fd;
  c->got = 0;
  c->started = now();
  int r = connect(fd, (struct sockaddr *)&cfg.addr, cfg.addrlen);
  struct epoll_event ev = {.data.u32 = (uint32_t)i};
  if (r == 0) {
    /* Connected at once (rare for TCP): send now. */
    if (send(fd, cfg.payload, cfg.payload_len, MSG_NOSIGNAL) != (ssize_t)cfg.payload_len) goto fail;
    c->state = ST_READING;
    ev.events = EPOLLIN;
  } else if (errno == EINPROGRESS) {
    c->state = ST_CONNECTING;
    ev.events = EPOLLOUT;
  } else {
    goto fail;
  }
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) goto fail;
  return 0;
fail:
  close(fd);
  c->fd = -1;
  return -1;
}

static void tcp_finish(worker_t *w, int ep, int i, int ok) {
  client_t *c = &w->cl[i];
  double t1 = now();
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  c->fd = -1;
  if (ok)
    record(w, c->started, t1);
  else if (t1 >= t_measure)
    w->errors++;
}

static void tcp_loop(worker_t *w) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event evs[256];
  char buf[4096];
  for (int i = 0; i < w->n; i++) w->cl[i].fd = -1;
  double last_scan = now();
  while (1) {
    double t = now();
    if (t >= t_end || (cfg.count && g_total >= cfg.count)) break;
    /* (Re)start idle clients; a failed start is retried on the next turn. */
    for (int i = 0; i < w->n; i++)
      if (w->cl[i].fd < 0 && tcp_start(w, ep, i) < 0 && t >= t_measure) w->errors++;
    int n = epoll_wait(ep, evs, 256, 10);
    for (int k = 0; k < n; k++) {
      int i = (int)evs[k].data.u32;
      client_t *c = &w->cl[i];
      if (c->fd < 0) continue;
      if (c->state == ST_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err || send(c->fd, cfg.payload, cfg.payload_len, MSG_NOSIGNAL) != (ssize_t)cfg.payload_len) {
          tcp_finish(w, ep, i, 0);
          continue;
        }
        c->state = ST_READING;
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        continue;
      }
      /* ST_READING: read until --expect bytes arrived, or EOF. */
      for (;;) {
        ssize_t r = recv(c->fd, buf, sizeof buf, 0);
        if (r > 0) {
          c->got += (int)r;
          if (cfg.expect > 0 && c->got >= cfg.expect) {
            tcp_finish(w, ep, i, 1);
            break;
          }
          continue;
        }
        if (r == 0) { /* peer closed: complete if anything arrived and no length expected */
          tcp_finish(w, ep, i, cfg.expect > 0 ? c->got >= cfg.expect : c->got > 0);
          break;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        if (errno == EINTR) continue;
        tcp_finish(w, ep, i, 0);
        break;
      }
    }
    /* Per-connection timeout, checked every 50 ms. */
    t = now();
    if (t - last_scan > 0.05) {
      last_scan = t;
      for (int i = 0; i < w->n; i++)
        if (w->cl[i].fd >= 0 && t - w->cl[i].started > cfg.timeout_ms / 1000.0) {
          tcp_finish(w, ep, i, 0);
          if (t >= t_measure) w->timeouts++;
        }
    }
  }
  for (int i = 0; i < w->n; i++)
    if (w->cl[i].fd >= 0) close(w->cl[i].fd);
  close(ep);
}

/* ---------------------------------------------------------------- UDP --- */

static void udp_send(worker_t *w, int i) {
  client_t *c = &w->cl[i];
  c->started = now();
  if (send(c->fd, cfg.payload, cfg.payload_len, 0) < 0 && c->started >= t_measure) w->errors++;
}

static void udp_loop(worker_t *w) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event evs[256];
  char buf[65536];
  for (int i = 0; i < w->n; i++) {
    client_t *c = &w->cl[i];
    c->fd = socket(cfg.addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&cfg.addr, cfg.addrlen) < 0) {
      perror("udp socket/connect");
      exit(2);
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
  }
  for (int i = 0; i < w->n; i++) udp_send(w, i);
  double last_scan = now();
  while (1) {
    double t = now();
    if (t >= t_end || (cfg.count && g_total >= cfg.count)) break;
    int n = epoll_wait(ep, evs, 256, 10);
    for (int k = 0; k < n; k++) {
      int i = (int)evs[k].data.u32;
      client_t *c = &w->cl[i];
      for (;;) {
        ssize_t r = recv(c->fd, buf, sizeof buf, 0);
        if (r >= 0) {
          record(w, c->started, now());
          udp_send(w, i);
          continue; /* a late duplicate reply would also count: drained here */
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        if (errno == EINTR) continue;
        /* e.g. ECONNREFUSED: the server is not there; send again after the timeout. */
        if (now() >= t_measure) w->errors++;
        break;
      }
    }
    /* A datagram without a reply for --timeout-ms is lost: count it and send again. */
    t = now();
    if (t - last_scan > 0.005) {
      last_scan = t;
      for (int i = 0; i < w->n; i++)
        if (t - w->cl[i].started > cfg.timeout_ms / 1000.0) {
          if (t >= t_measure && t <= t_end) w->lost++;
          udp_send(w, i);
        }
    }
  }
  for (int i = 0; i < w->n; i++) close(w->cl[i].fd);
  close(ep);
}

static void *run(void *arg) {
  worker_t *w = arg;
  if (cfg.cpu >= 0) {
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET((cfg.cpu + w->id) % ncpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  }
  if (cfg.udp)
    udp_loop(w);
  else
    tcp_loop(w);
  return NULL;
}

static int parse_addr(const char *host, int port) {
  struct sockaddr_in *a4 = (struct sockaddr_in *)&cfg.addr;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&cfg.addr;
  memset(&cfg.addr, 0, sizeof cfg.addr);
  if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(port);
    cfg.addrlen = sizeof *a4;
    return 0;
  }
  if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(port);
    cfg.addrlen = sizeof *a6;
    return 0;
  }
  return -1;
}

static void usage(void) {
  fprintf(stderr,
          "usage: loadgen tcp|udp --port N [--host 127.0.0.1] [-c 32] [-t 1] [--duration 5]\n"
          "       [--warmup 0.5] [--count 0] [--expect 39] [--payload Hello] [--timeout-ms 200] [--cpu N]\n");
  exit(2);
}

int main(int argc, char **argv) {
  if (argc < 2) usage();
  if (!strcmp(argv[1], "udp"))
    cfg.udp = 1;
  else if (strcmp(argv[1], "tcp"))
    usage();
  const char *host = "127.0.0.1";
  int port = 0;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) usage();
    if (!strcmp(a, "--host")) host = v;
    else if (!strcmp(a, "--port")) port = atoi(v);
    else if (!strcmp(a, "-c")) cfg.clients = atoi(v);
    else if (!strcmp(a, "-t")) cfg.threads = atoi(v);
    else if (!strcmp(a, "--duration")) cfg.duration = atof(v);
    else if (!strcmp(a, "--warmup")) cfg.warmup = atof(v);
    else if (!strcmp(a, "--count")) cfg.count = atoll(v);
    else if (!strcmp(a, "--expect")) cfg.expect = atoi(v);
    else if (!strcmp(a, "--payload")) cfg.payload = v;
    else if (!strcmp(a, "--timeout-ms")) cfg.timeout_ms = atoi(v);
    else if (!strcmp(a, "--cpu")) cfg.cpu = atoi(v);
    else usage();
    i++;
  }
  cfg.payload_len = strlen(cfg.payload);
  if (port <= 0 || port > 65535 || parse_addr(host, port) < 0) usage();
  if (cfg.clients < 1 || cfg.clients > MAX_CLIENTS * 16) usage();
  if (cfg.threads < 1 || cfg.threads > 16 || cfg.threads > cfg.clients) usage();
  if (cfg.duration <= 0 || cfg.duration > 600 || cfg.warmup < 0 || cfg.warmup > 60) usage();

  worker_t *ws = calloc(cfg.threads, sizeof *ws);
  pthread_t *th = calloc(cfg.threads, sizeof *th);
  for (int k = 0; k < cfg.threads; k++) {
    ws[k].id = k;
    ws[k].n = cfg.clients / cfg.threads + (k < cfg.clients % cfg.threads);
    if (ws[k].n > MAX_CLIENTS) usage();
    ws[k].hist = calloc(HIST_US, sizeof(uint32_t));
  }
  t_start = now();
  t_measure = t_start + cfg.warmup;
  t_end = t_measure + cfg.duration;
  struct rusage ru0, ru1;
  getrusage(RUSAGE_SELF, &ru0);
  for (int k = 0; k < cfg.threads; k++) pthread_create(&th[k], NULL, run, &ws[k]);
  for (int k = 0; k < cfg.threads; k++) pthread_join(th[k], NULL);
  double t_done = now();
  getrusage(RUSAGE_SELF, &ru1);

  /* Merge the histograms. */
  long long completed = 0, errors = 0, lost = 0, timeouts = 0;
  double lat_sum = 0;
  for (int k = 0; k < cfg.threads; k++) {
    completed += ws[k].completed;
    errors += ws[k].errors;
    lost += ws[k].lost;
    timeouts += ws[k].timeouts;
    lat_sum += ws[k].lat_sum;
    if (k)
      for (int b = 0; b < HIST_US; b++) ws[0].hist[b] += ws[k].hist[b];
  }
  double pct[3] = {0.5, 0.99, 0.999};
  double pv[3] = {0, 0, 0};
  int maxb = 0;
  for (int p = 0; p < 3; p++) {
    long long target = (long long)(pct[p] * completed), acc = 0;
    for (int b = 0; b < HIST_US; b++) {
      acc += ws[0].hist[b];
      if (acc > target && completed) {
        pv[p] = b + 0.5;
        break;
      }
    }
  }
  for (int b = 0; b < HIST_US; b++)
    if (ws[0].hist[b]) maxb = b;
  /* The measured window: warm-up excluded; ends at t_end unless --count ended it sooner. */
  double window = (t_done < t_end ? t_done : t_end) - t_measure;
  if (window <= 0) window = 1e-9;
  double ut = (ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) + (ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) * 1e-6;
  double st = (ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) + (ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) * 1e-6;
  double wall = t_done - t_start;
  printf("{\"mode\":\"%s\",\"clients\":%d,\"threads\":%d,\"duration_s\":%.3f,\"completed\":%lld,"
         "\"rate\":%.1f,\"errors\":%lld,\"lost\":%lld,\"timeouts\":%lld,\"p50_us\":%.1f,\"p99_us\":%.1f,"
         "\"p999_us\":%.1f,\"max_us\":%d,\"mean_us\":%.1f,\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f,"
         "\"cpu_pct_of_one_core\":%.1f}\n",
         cfg.udp ? "udp" : "tcp", cfg.clients, cfg.threads, window, completed, completed / window, errors,
         lost, timeouts, pv[0], pv[1], pv[2], maxb, completed ? lat_sum / completed : 0, ut, st,
         100.0 * (ut + st) / wall);
  return 0;
}
