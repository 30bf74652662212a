/* echo_server.c - see echo_server.h. */
#include "echo_server.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "connection.h"
#include "log.h"
#include "thread_pool.h"

struct echo_server {
    struct tcp_server *server;     /* owned */
    struct thread_pool *workers;   /* owned; NULL: replies in the I/O thread */
};

/* A message on its way to a worker. */
struct echo_job {
    struct connection *conn;       /* a reference, dropped by the worker */
    size_t len;                    /* payload bytes */
    char payload[];                /* a copy: the input buffer moves on */
};

#define REPLY_PREFIX "reply:"

/* The computation: "reply:" + payload. */
static void send_reply(struct connection *conn, const char *payload,
                       size_t len)
{
    static const char prefix[] = REPLY_PREFIX;
    struct iovec parts[2] = {
        { .iov_base = (void *)prefix, .iov_len = sizeof(prefix) - 1 },
        { .iov_base = (void *)payload, .iov_len = len },
    };
    conn_send_message(conn, parts, 2);
}

/* What a job makes the server hold until its conn_end_async(): the job
 * with its copy of the payload, its slot in the worker's queue (a function
 * and a pointer), and the reply on its way back, each allocation with its
 * malloc header and rounding (at most 16 bytes with glibc). Back-pressure
 * and the memory budget count this, not the payload alone: an empty
 * message costs about 100 bytes, not 0. */
static size_t job_cost(size_t len)
{
    const size_t malloc_overhead = 16;
    size_t job = sizeof(struct echo_job) + len + malloc_overhead +
                 2 * sizeof(void *);
    size_t reply = CODEC_HEADER_LEN + sizeof(REPLY_PREFIX) - 1 + len +
                   malloc_overhead;
    return job + reply;
}

/* Handledata in the course: runs in a worker thread. */
static void handle_job(void *arg)
{
    struct echo_job *job = arg;
    send_reply(job->conn, job->payload, job->len);
    conn_end_async(job->conn, job_cost(job->len));
    conn_unref(job->conn);
    free(job);
}

/* Hands a copy of the message to a worker. Kept out of line, so that
 * handle_message without workers needs no stack frame for it. */
static __attribute__((noinline))
void submit_job(struct echo_server *es, struct connection *conn,
                const char *payload, size_t len)
{
    struct echo_job *job = malloc(sizeof(*job) + len);
    if (!job) {
        log_error("worker job: %s", strerror(errno));
        conn_close(conn);
        return;
    }
    conn_ref(conn);
    job->conn = conn;
    job->len = len;
    memcpy(job->payload, payload, len);
    conn_begin_async(conn, job_cost(len));
    /* Keyed by the fd: all of a connection's messages go to one worker. */
    if (thread_pool_submit(es->workers, (size_t)conn_fd(conn), handle_job,
                           job) < 0) {
        log_error("worker job: %s", strerror(errno));
        conn_end_async(conn, job_cost(len));
        conn_unref(conn);
        free(job);
        conn_close(conn);
    }
}

/* HandleMessage in the course: one request in, one reply out, here in the
 * I/O thread or in a worker. */
static void handle_message(void *ctx, struct connection *conn,
                           const char *payload, size_t len)
{
    struct echo_server *es = ctx;

    if (es->workers)
        submit_job(es, conn, payload, len);
    else
        send_reply(conn, payload, len);
}

struct echo_server *echo_server_new(struct event_loop *loop,
                                    const struct inet_address *addr,
                                    const struct tcp_server_options *options,
                                    int workers)
{
    struct echo_server *es = calloc(1, sizeof(*es));
    if (!es)
        return NULL;
    es->server = tcp_server_new(loop, addr, options);
    if (!es->server)
        goto fail;
    if (workers > 0 && !(es->workers = thread_pool_new("worker", workers)))
        goto fail;
    tcp_server_set_message_callback(es->server, handle_message, es);
    return es;

fail:;
    int saved = errno;
    echo_server_free(es);
    errno = saved;
    return NULL;
}

void echo_server_free(struct echo_server *es)
{
    if (!es)
        return;
    /* First nothing may make new jobs: stop the I/O threads. Then let the
     * workers finish the jobs they have; their replies find their
     * connections still there, and are dropped when those close. */
    if (es->server)
        tcp_server_stop(es->server);
    thread_pool_free(es->workers);
    tcp_server_free(es->server);
    free(es);
}

int echo_server_start(struct echo_server *es)
{
    return tcp_server_start(es->server);
}

size_t echo_server_held(const struct echo_server *es)
{
    return tcp_server_held(es->server);
}

bool echo_server_failed(const struct echo_server *es)
{
    return tcp_server_failed(es->server);
}

int echo_server_local_address(const struct echo_server *es,
                              struct inet_address *addr)
{
    return tcp_server_local_address(es->server, addr);
}
