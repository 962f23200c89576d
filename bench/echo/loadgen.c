/* Echo load generator for bench/echo: C, so that the client is not the bottleneck.
 *
 * usage: loadgen HOST PORT CONNS SECONDS MSGSIZE [WARMUP_SECONDS]
 *
 * Opens CONNS TCP connections; each sends MSGSIZE bytes, waits until all of
 * them have come back, and repeats (one message in flight per connection, a
 * closed loop). One thread, epoll, non-blocking sockets. Prints one line:
 *   roundtrips=N seconds=S rps=R p50_us=.. p99_us=..
 * counting only round trips that complete after the warmup.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int fd;
    size_t got;
    double sent_at;
} conn_t;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

#define NBUCKETS 100000 /* latency histogram, 1 us buckets up to 100 ms */
static unsigned long hist[NBUCKETS + 1];

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s HOST PORT CONNS SECONDS MSGSIZE [WARMUP]\n", argv[0]);
        return 2;
    }
    const char *host = argv[1];
    int port = atoi(argv[2]), nconn = atoi(argv[3]);
    double secs = atof(argv[4]), warm = argc > 6 ? atof(argv[6]) : 1.0;
    size_t msz = (size_t)atol(argv[5]);
    char *msg = malloc(msz), *buf = malloc(msz > 65536 ? msz : 65536);
    memset(msg, 'x', msz);

    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "loadgen: bad IPv4 address %s\n", host);
        return 2;
    }
    int ep = epoll_create1(0);
    conn_t *cs = calloc(nconn, sizeof(conn_t));
    for (int i = 0; i < nconn; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            perror("loadgen: connect");
            return 1;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        /* Blocking socket: reads use MSG_DONTWAIT, and a write of one message
           (one in flight per connection) always fits the empty send buffer. */
        cs[i].fd = fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (unsigned)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    double start = now(), measure_from = start + warm, end = measure_from + secs;
    unsigned long done = 0;
    for (int i = 0; i < nconn; i++) {
        cs[i].sent_at = now();
        if (write(cs[i].fd, msg, msz) != (ssize_t)msz) {
            perror("loadgen: write");
            return 1;
        }
    }
    struct epoll_event evs[256];
    double t = now();
    while (t < end) {
        int n = epoll_wait(ep, evs, 256, 100);
        t = now();
        for (int k = 0; k < n; k++) {
            conn_t *c = &cs[evs[k].data.u32];
            ssize_t r = recv(c->fd, buf, msz - c->got, MSG_DONTWAIT);
            if (r == 0) {
                fprintf(stderr, "loadgen: server closed a connection\n");
                return 1;
            }
            if (r < 0) {
                if (errno == EAGAIN || errno == EINTR) continue;
                perror("loadgen: recv");
                return 1;
            }
            c->got += (size_t)r;
            if (c->got < msz) continue;
            c->got = 0;
            if (t >= measure_from) {
                done++;
                long us = (long)((t - c->sent_at) * 1e6);
                hist[us < NBUCKETS ? us : NBUCKETS]++;
            }
            c->sent_at = t;
            if (write(c->fd, msg, msz) != (ssize_t)msz) {
                perror("loadgen: write");
                return 1;
            }
        }
    }
    double el = t - measure_from;
    unsigned long acc = 0;
    long p50 = -1, p99 = -1;
    for (long us = 0; us <= NBUCKETS; us++) {
        acc += hist[us];
        if (p50 < 0 && acc * 2 >= done) p50 = us;
        if (p99 < 0 && acc * 100 >= done * 99) p99 = us;
    }
    printf("roundtrips=%lu seconds=%.3f rps=%.0f p50_us=%ld p99_us=%ld\n", done, el, done / el, p50, p99);
    for (int i = 0; i < nconn; i++) close(cs[i].fd);
    return 0;
}
