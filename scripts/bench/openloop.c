/* openloop: a small open-loop HTTP/1.1 load generator for scripts/bench/checkin.py.
 *
 * wrk is closed-loop: a connection sends its next request only when the last one came back,
 * so a slow server is sent less and its queueing never shows in the latency. Here requests are
 * *scheduled* at a fixed rate (request k at t0 + k/rate) whatever the server does, and each
 * latency is measured from that scheduled time to the last byte of the answer: time spent
 * waiting for a free connection in this client counts too (no coordinated omission, as in wrk2,
 * which Debian does not package). At most MAXCONN requests are in flight; the others wait here,
 * on the clock.
 *
 *   openloop PORT RATE SECONDS MAXCONN GRACE FILE
 *
 * FILE has one request per line, tab-separated: path, bearer token ("-" for none),
 * Idempotency-Key, JSON body. Each line is sent at most once (a new card and key per request);
 * lines run out -> "exhausted". Loopback only (127.0.0.1). After SECONDS no new request is
 * scheduled; answers are awaited up to GRACE more seconds, then whatever is left counts as
 * unfinished with its latency so far as a lower bound ("censored"). Prints one JSON object.
 *
 * Build: gcc -O2 -o openloop openloop.c   (checkin.py does this in /tmp)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    char *path, *auth, *key, *body;
} line_t;

enum { C_CONNECTING = 1, C_IDLE, C_BUSY };

typedef struct {
    int fd, state, reused;
    long req; /* request in flight, -1 if none */
    char *out;
    size_t outlen, outoff;
    char in[65536];
    size_t inlen;
} conn_t;

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(double *v, long n, double q) {
    if (n <= 0) return 0.0;
    long i = (long)(q * (double)n);
    if (i >= n) i = n - 1;
    return v[i];
}

static void json_str(const char *s, size_t n) {
    putchar('"');
    for (size_t i = 0; i < n && s[i]; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

/* --- state ----------------------------------------------------------------------------------- */
static int port, maxconn, epfd;
static double rate, seconds, grace, t0;
static line_t *lines;
static long nlines, total;
static double *sched_lat, *svc_lat, *send_lag; /* per request index */
static double *t_sent;
static char *done; /* 0 pending, 1 answered, 2 transport error */
static int *status_of;
static conn_t *conns;
static int nconns_open, conns_opened;
static long completed, completed_in_window, errors, retries;
static long *retry_q;
static long nretry;
static long status_count[600];
static char samples[5][201];
static int nsamples;

static double sched(long k) { return t0 + (double)k / rate; }

static char *format_request(long k, size_t *len) {
    line_t *l = &lines[k];
    size_t blen = strlen(l->body);
    size_t cap = strlen(l->path) + strlen(l->auth) + strlen(l->key) + blen + 400;
    char *buf = malloc(cap);
    int n;
    if (strcmp(l->auth, "-") == 0)
        n = snprintf(buf, cap,
                     "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nIdempotency-Key: %s\r\nX-Device: bench\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     l->path, port, l->key, blen, l->body);
    else
        n = snprintf(buf, cap,
                     "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n"
                     "Idempotency-Key: %s\r\nX-Device: bench\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     l->path, port, l->auth, l->key, blen, l->body);
    *len = (size_t)n;
    return buf;
}

static void conn_close(conn_t *c) {
    if (c->fd >= 0) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        nconns_open--;
    }
    free(c->out);
    c->out = NULL;
    c->fd = -1;
    c->state = 0;
    c->req = -1;
    c->inlen = 0;
    c->reused = 0;
}

static void set_events(conn_t *c, uint32_t ev) {
    struct epoll_event e = {.events = ev, .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e);
}

static void try_write(conn_t *c) {
    while (c->outoff < c->outlen) {
        ssize_t w = write(c->fd, c->out + c->outoff, c->outlen - c->outoff);
        if (w < 0) {
            if (errno == EAGAIN) {
                set_events(c, EPOLLIN | EPOLLOUT);
                return;
            }
            return; /* the read side will see the error */
        }
        c->outoff += (size_t)w;
    }
    set_events(c, EPOLLIN);
}

static void assign(conn_t *c, long k) {
    c->req = k;
    free(c->out);
    c->out = format_request(k, &c->outlen);
    c->outoff = 0;
    c->inlen = 0;
    if (c->state == C_CONNECTING) return; /* sent when the connection is up */
    c->state = C_BUSY;
    t_sent[k] = mono();
    try_write(c);
}

static conn_t *open_conn(void) {
    conn_t *c = NULL;
    for (int i = 0; i < maxconn; i++)
        if (conns[i].state == 0) {
            c = &conns[i];
            break;
        }
    if (!c) return NULL;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) return NULL;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) {
        close(fd);
        return NULL;
    }
    c->fd = fd;
    c->state = C_CONNECTING;
    c->req = -1;
    c->inlen = 0;
    c->reused = 0;
    struct epoll_event e = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e);
    nconns_open++;
    conns_opened++;
    return c;
}

static void finish(conn_t *c, int status, const char *body, size_t blen) {
    long k = c->req;
    double now = mono();
    done[k] = 1;
    status_of[k] = status;
    sched_lat[k] = now - sched(k);
    svc_lat[k] = now - t_sent[k];
    send_lag[k] = t_sent[k] - sched(k);
    completed++;
    if (now <= t0 + seconds) completed_in_window++;
    if (status >= 0 && status < 600) status_count[status]++;
    if ((status < 200 || status > 299) && nsamples < 5) {
        size_t n = blen < 200 ? blen : 200;
        memcpy(samples[nsamples], body, n);
        samples[nsamples][n] = 0;
        nsamples++;
    }
    c->req = -1;
    c->state = C_IDLE;
    c->reused = 1;
    c->inlen = 0;
}

static void transport_error(conn_t *c) {
    long k = c->req;
    if (k >= 0) {
        if (c->reused && c->inlen == 0) {
            /* the server closed an idle keep-alive connection as we wrote on it: send again
               (safe: every check-in carries an Idempotency-Key) */
            retry_q[nretry++] = k;
            retries++;
        } else {
            done[k] = 2;
            errors++;
        }
    }
    conn_close(c);
}

/* 1 = one whole answer in c->in, 0 = need more, -1 = malformed */
static int parse(conn_t *c, int *status, char **body, size_t *blen, int *close_after) {
    c->in[c->inlen < sizeof c->in ? c->inlen : sizeof c->in - 1] = 0;
    char *end = memmem(c->in, c->inlen, "\r\n\r\n", 4);
    if (!end) return c->inlen >= sizeof c->in - 1 ? -1 : 0;
    size_t hlen = (size_t)(end - c->in) + 4;
    if (c->inlen < 12 || strncmp(c->in, "HTTP/1.", 7) != 0) return -1;
    *status = atoi(c->in + 9);
    long clen = -1;
    int chunked = 0;
    *close_after = 0;
    for (char *p = c->in; p < end;) {
        char *eol = memmem(p, (size_t)(end - p) + 2, "\r\n", 2);
        if (!eol) break;
        if (strncasecmp(p, "content-length:", 15) == 0) clen = atol(p + 15);
        else if (strncasecmp(p, "transfer-encoding:", 18) == 0 && strcasestr(p, "chunked") && strcasestr(p, "chunked") < eol)
            chunked = 1;
        else if (strncasecmp(p, "connection:", 11) == 0 && strcasestr(p, "close") && strcasestr(p, "close") < eol)
            *close_after = 1;
        p = eol + 2;
    }
    *body = c->in + hlen;
    if (chunked) {
        if (!memmem(c->in + hlen - 2, c->inlen - hlen + 2, "\r\n0\r\n\r\n", 7)) return c->inlen >= sizeof c->in - 1 ? -1 : 0;
        *blen = c->inlen - hlen;
        return 1;
    }
    if (clen < 0) clen = 0;
    if (c->inlen < hlen + (size_t)clen) return c->inlen >= sizeof c->in - 1 ? -1 : 0;
    *blen = (size_t)clen;
    return 1;
}

static void on_readable(conn_t *c) {
    for (;;) {
        if (c->inlen >= sizeof c->in - 1) {
            transport_error(c);
            return;
        }
        ssize_t r = read(c->fd, c->in + c->inlen, sizeof c->in - 1 - c->inlen);
        if (r < 0) {
            if (errno == EAGAIN) return;
            transport_error(c);
            return;
        }
        if (r == 0) {
            if (c->req < 0) conn_close(c); /* idle keep-alive closed by the server */
            else transport_error(c);
            return;
        }
        c->inlen += (size_t)r;
        if (c->req < 0) continue; /* stray bytes on an idle connection: ignore */
        int status = 0, close_after = 0;
        char *body = NULL;
        size_t blen = 0;
        int p = parse(c, &status, &body, &blen, &close_after);
        if (p < 0) {
            transport_error(c);
            return;
        }
        if (p == 1) {
            finish(c, status, body, blen);
            if (close_after) conn_close(c);
            return;
        }
    }
}

static void load_lines(const char *file) {
    FILE *f = fopen(file, "rb");
    if (!f) {
        perror(file);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)size + 1);
    if (fread(buf, 1, (size_t)size, f) != (size_t)size) exit(2);
    buf[size] = 0;
    fclose(f);
    long cap = 1024;
    lines = malloc(sizeof(line_t) * (size_t)cap);
    for (char *p = buf; *p;) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = 0;
        if (*p) {
            char *f1 = strchr(p, '\t'), *f2 = f1 ? strchr(f1 + 1, '\t') : NULL, *f3 = f2 ? strchr(f2 + 1, '\t') : NULL;
            if (!f3) {
                fprintf(stderr, "bad line %ld\n", nlines + 1);
                exit(2);
            }
            *f1 = *f2 = *f3 = 0;
            if (nlines == cap) lines = realloc(lines, sizeof(line_t) * (size_t)(cap *= 2));
            lines[nlines++] = (line_t){p, f1 + 1, f2 + 1, f3 + 1};
        }
        if (!nl) break;
        p = nl + 1;
    }
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: %s PORT RATE SECONDS MAXCONN GRACE FILE\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    port = atoi(argv[1]);
    rate = atof(argv[2]);
    seconds = atof(argv[3]);
    maxconn = atoi(argv[4]);
    grace = atof(argv[5]);
    load_lines(argv[6]);
    if (rate <= 0 || seconds <= 0 || maxconn <= 0) return 2;
    total = (long)(rate * seconds);
    long usable = total < nlines ? total : nlines;
    sched_lat = calloc((size_t)total + 1, sizeof(double));
    svc_lat = calloc((size_t)total + 1, sizeof(double));
    send_lag = calloc((size_t)total + 1, sizeof(double));
    t_sent = calloc((size_t)total + 1, sizeof(double));
    done = calloc((size_t)total + 1, 1);
    status_of = calloc((size_t)total + 1, sizeof(int));
    retry_q = calloc((size_t)total + 1, sizeof(long));
    conns = calloc((size_t)maxconn, sizeof(conn_t));
    for (int i = 0; i < maxconn; i++) conns[i].fd = -1, conns[i].req = -1;
    epfd = epoll_create1(0);

    struct epoll_event evs[256];
    long next_due = 0, next_send = 0;
    t0 = mono() + 0.02;
    double deadline = t0 + seconds + grace, t_end;
    for (;;) {
        double now = mono();
        while (next_due < usable && sched(next_due) <= now) next_due++;
        /* hand due requests (retries first) to idle connections, opening new ones up to MAXCONN */
        for (;;) {
            long k;
            if (nretry > 0) k = retry_q[nretry - 1];
            else if (next_send < next_due) k = next_send;
            else break;
            conn_t *c = NULL;
            for (int i = 0; i < maxconn; i++)
                if (conns[i].state == C_IDLE) {
                    c = &conns[i];
                    break;
                }
            if (!c && nconns_open < maxconn) c = open_conn();
            if (!c) break;
            if (nretry > 0) nretry--;
            else next_send++;
            assign(c, k);
        }
        int outstanding = (next_send - completed - errors) > 0 || nretry > 0;
        if (next_due >= usable && next_send >= usable && !outstanding) break;
        if (now >= deadline) break;
        double until = deadline;
        if (next_due < usable && sched(next_due) < until) until = sched(next_due);
        double wait = until - now;
        if (wait < 0) wait = 0;
        struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
        int n = epoll_pwait2(epfd, evs, 256, &ts, NULL);
        for (int i = 0; i < n; i++) {
            conn_t *c = evs[i].data.ptr;
            if (c->fd < 0) continue;
            if (c->state == C_CONNECTING) {
                int err = 0;
                socklen_t el = sizeof err;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
                if (err) {
                    if (c->req >= 0) done[c->req] = 2, errors++;
                    c->req = -1;
                    conn_close(c);
                    continue;
                }
                if (c->req >= 0) {
                    c->state = C_BUSY;
                    t_sent[c->req] = mono();
                    try_write(c);
                } else {
                    c->state = C_IDLE;
                    set_events(c, EPOLLIN);
                }
                continue;
            }
            if (evs[i].events & EPOLLOUT && c->state == C_BUSY) try_write(c);
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c);
        }
    }
    t_end = mono();

    /* latencies from the scheduled time: answered ones, plus a lower bound for the unfinished */
    double *all = malloc(sizeof(double) * (size_t)(usable + 1)), *svc = malloc(sizeof(double) * (size_t)(usable + 1)),
           *lag = malloc(sizeof(double) * (size_t)(usable + 1));
    long na = 0, ns = 0, censored = 0, unsent = usable - next_send + nretry, inflight = 0;
    for (long k = 0; k < usable; k++) {
        if (done[k] == 1) {
            all[na++] = sched_lat[k];
            svc[ns] = svc_lat[k];
            lag[ns++] = send_lag[k];
        } else if (done[k] == 0) {
            if (sched(k) < t_end) all[na++] = t_end - sched(k), censored++;
            if (k < next_send) inflight++;
        }
    }
    inflight -= nretry > inflight ? inflight : nretry;
    qsort(all, (size_t)na, sizeof(double), cmp_double);
    qsort(svc, (size_t)ns, sizeof(double), cmp_double);
    qsort(lag, (size_t)ns, sizeof(double), cmp_double);
    printf("{\"offered_rate\": %.1f, \"seconds\": %.3f, \"scheduled\": %ld, \"lines\": %ld, \"exhausted\": %s,",
           rate, seconds, total, nlines, nlines < total ? "true" : "false");
    printf(" \"sent\": %ld, \"completed\": %ld, \"completed_in_window\": %ld, \"errors\": %ld, \"retries\": %ld,",
           next_send, completed, completed_in_window, errors, retries);
    printf(" \"unsent\": %ld, \"inflight_abandoned\": %ld, \"censored\": %ld, \"connections_opened\": %d,", unsent,
           inflight, censored, conns_opened);
    printf(" \"elapsed\": %.3f,", t_end - t0);
    printf(" \"p50_ms\": %.2f, \"p90_ms\": %.2f, \"p99_ms\": %.2f, \"max_ms\": %.2f,", pct(all, na, .5) * 1e3,
           pct(all, na, .9) * 1e3, pct(all, na, .99) * 1e3, na ? all[na - 1] * 1e3 : 0.0);
    printf(" \"svc_p50_ms\": %.2f, \"svc_p99_ms\": %.2f, \"send_lag_p50_ms\": %.2f, \"send_lag_p99_ms\": %.2f,",
           pct(svc, ns, .5) * 1e3, pct(svc, ns, .99) * 1e3, pct(lag, ns, .5) * 1e3, pct(lag, ns, .99) * 1e3);
    printf(" \"status\": {");
    int first = 1;
    for (int s = 0; s < 600; s++)
        if (status_count[s]) printf("%s\"%d\": %ld", first ? "" : ", ", s, status_count[s]), first = 0;
    printf("}, \"samples\": [");
    for (int i = 0; i < nsamples; i++) {
        if (i) printf(", ");
        json_str(samples[i], strlen(samples[i]));
    }
    printf("]}\n");
    return 0;
}
