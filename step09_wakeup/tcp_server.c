/* tcp_server.c - see tcp_server.h. */
#include "tcp_server.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "acceptor.h"
#include "connection.h"
#include "event_loop.h"
#include "log.h"
#include "thread_pool.h"

struct tcp_server {
    struct event_loop *loop;          /* not owned: the main reactor */
    struct acceptor *acceptor;        /* owned */
    struct thread_pool *io_pool;      /* owned: one thread per sub-reactor */
    struct event_loop **io_loops;     /* owned: created by their threads */
    int nio_ready;                    /* io_loops published so far */
    pthread_cond_t io_ready;          /* signalled as each one is */
    unsigned next_io;                 /* round-robin cursor */
    atomic_bool failed;               /* an I/O loop could not go on */
    pthread_mutex_t lock;             /* guards conns, nconns, nio_ready */
    struct connection **conns;        /* a reference each, indexed by fd */
    size_t nconns;                    /* slots in conns */
    struct tcp_server_options options;
    conn_message_callback message_callback;
    void *message_ctx;                /* for message_callback; not owned */
};

/* Locked. Makes room for index fd in the table. */
static int reserve_slot(struct tcp_server *server, int fd)
{
    if ((size_t)fd < server->nconns)
        return 0;
    size_t n = server->nconns ? server->nconns : 64;
    while (n <= (size_t)fd)
        n *= 2;
    struct connection **bigger = realloc(server->conns, n * sizeof(*bigger));
    if (!bigger)
        return -1;
    memset(bigger + server->nconns, 0,
           (n - server->nconns) * sizeof(*bigger));
    server->conns = bigger;
    server->nconns = n;
    return 0;
}

/* A connection ended: forget it and drop the table's reference. Its fd is
 * closed by the last reference, so the slot is free before the fd number
 * can come back from accept(). */
static void remove_connection(void *ctx, struct connection *conn)
{
    struct tcp_server *server = ctx;
    pthread_mutex_lock(&server->lock);
    server->conns[conn_fd(conn)] = NULL;
    pthread_mutex_unlock(&server->lock);
    conn_unref(conn);
}

/* The loop for the next connection: round-robin over the sub-reactors. */
static struct event_loop *next_loop(struct tcp_server *server)
{
    int n = server->options.io_threads;
    if (n == 0)
        return server->loop;
    return server->io_loops[server->next_io++ % (unsigned)n];
}

/* The acceptor's callback: wrap the socket in a connection and keep it. */
static void new_connection(void *ctx, struct socket *sock,
                           const struct inet_address *peer)
{
    struct tcp_server *server = ctx;
    int fd = sock->fd;

    struct connection *conn = conn_new(next_loop(server), sock, peer,
                                       server->options.max_payload);
    if (!conn) {
        log_error("new connection: %s", strerror(errno));
        socket_close(sock);
        return;
    }
    conn_set_message_callback(conn, server->message_callback,
                              server->message_ctx);
    conn_set_close_callback(conn, remove_connection, server);
    pthread_mutex_lock(&server->lock);
    int rc = reserve_slot(server, fd);
    if (rc == 0)
        server->conns[fd] = conn;
    pthread_mutex_unlock(&server->lock);
    if (rc < 0) {
        log_error("new connection: %s", strerror(errno));
        conn_unref(conn);                      /* closes the socket */
        return;
    }
    /* From here on the connection's own loop may handle its events. */
    if (conn_establish(conn) < 0) {
        log_error("new connection: %s", strerror(errno));
        /* It never reached its loop, and closing is the loop's business:
         * drop it from here, as its close would. */
        remove_connection(server, conn);
    }
}

/* An I/O thread's one job: create its loop (a loop belongs to the thread
 * that creates it), publish it, run it until told to quit. */
struct io_start {
    struct tcp_server *server;
    int index;
};

static void run_io_loop(void *arg)
{
    struct io_start *start = arg;
    struct tcp_server *server = start->server;
    struct event_loop *loop = event_loop_new();

    pthread_mutex_lock(&server->lock);
    server->io_loops[start->index] = loop;
    server->nio_ready++;
    pthread_cond_signal(&server->io_ready);
    pthread_mutex_unlock(&server->lock);
    if (loop && event_loop_run(loop) < 0) {
        /* A loop that cannot wait serves nobody, and the main loop would
         * go on handing it connections: stop the server (as libuv aborts
         * and redis panics), with the status of a runtime failure. */
        log_error("epoll_wait: %s; shutting down", strerror(errno));
        atomic_store(&server->failed, true);
        event_loop_quit(server->loop);
    }
}

/* Starts the I/O threads and waits until each has published its loop. */
static int start_io_loops(struct tcp_server *server)
{
    int n = server->options.io_threads;
    struct io_start *starts = calloc((size_t)n, sizeof(*starts));
    server->io_loops = calloc((size_t)n, sizeof(*server->io_loops));
    if (!starts || !server->io_loops)
        goto fail;
    server->io_pool = thread_pool_new("io", n);
    if (!server->io_pool)
        goto fail;
    for (int i = 0; i < n; i++) {
        starts[i] = (struct io_start){ server, i };
        if (thread_pool_submit(server->io_pool, (size_t)i, run_io_loop,
                               &starts[i]) < 0) {
            pthread_mutex_lock(&server->lock);
            server->nio_ready++;               /* counted, loop stays NULL */
            pthread_mutex_unlock(&server->lock);
        }
    }
    pthread_mutex_lock(&server->lock);
    while (server->nio_ready < n)
        pthread_cond_wait(&server->io_ready, &server->lock);
    pthread_mutex_unlock(&server->lock);
    free(starts);
    for (int i = 0; i < n; i++)
        if (!server->io_loops[i]) {
            errno = ENOMEM;
            return -1;
        }
    return 0;

fail:
    free(starts);
    return -1;
}

/* Stops every I/O loop and joins its thread. */
static void stop_io_loops(struct tcp_server *server)
{
    if (server->io_pool) {
        for (int i = 0; i < server->options.io_threads; i++)
            if (server->io_loops[i])
                event_loop_quit(server->io_loops[i]);
        thread_pool_free(server->io_pool);     /* joins */
        server->io_pool = NULL;
    }
}

struct tcp_server *tcp_server_new(struct event_loop *loop,
                                  const struct inet_address *addr,
                                  const struct tcp_server_options *options)
{
    struct tcp_server *server = calloc(1, sizeof(*server));
    if (!server)
        return NULL;
    server->loop = loop;
    server->options = *options;
    atomic_init(&server->failed, false);
    pthread_mutex_init(&server->lock, NULL);
    pthread_cond_init(&server->io_ready, NULL);
    server->acceptor = acceptor_new(loop, addr, new_connection, server);
    if (!server->acceptor ||
        (options->io_threads > 0 && start_io_loops(server) < 0)) {
        int saved = errno;
        tcp_server_free(server);
        errno = saved;
        return NULL;
    }
    return server;
}

void tcp_server_stop(struct tcp_server *server)
{
    acceptor_free(server->acceptor);
    server->acceptor = NULL;
    stop_io_loops(server);
}

void tcp_server_free(struct tcp_server *server)
{
    if (!server)
        return;
    tcp_server_stop(server);
    /* Every thread that could touch a connection is gone (the workers are
     * joined before this, echo_server_free): this thread takes the loops
     * over, and closes what they hold. */
    if (server->io_loops)
        for (int i = 0; i < server->options.io_threads; i++)
            if (server->io_loops[i])
                event_loop_adopt(server->io_loops[i]);
    for (size_t fd = 0; fd < server->nconns; fd++)
        if (server->conns[fd])
            conn_close(server->conns[fd]);     /* drops the table's reference */
    if (server->io_loops)
        for (int i = 0; i < server->options.io_threads; i++)
            event_loop_free(server->io_loops[i]);
    free(server->io_loops);
    pthread_mutex_destroy(&server->lock);
    pthread_cond_destroy(&server->io_ready);
    free(server->conns);
    free(server);
}

void tcp_server_set_message_callback(struct tcp_server *server,
                                     conn_message_callback fn, void *ctx)
{
    server->message_callback = fn;
    server->message_ctx = ctx;
}

int tcp_server_start(struct tcp_server *server)
{
    return acceptor_listen(server->acceptor);
}

bool tcp_server_failed(const struct tcp_server *server)
{
    return atomic_load(&server->failed);
}

int tcp_server_local_address(const struct tcp_server *server,
                             struct inet_address *addr)
{
    return acceptor_local_address(server->acceptor, addr);
}
