/* connection.c - see connection.h. */
#include "connection.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "buffer.h"
#include "channel.h"
#include "codec.h"
#include "event_loop.h"
#include "log.h"

struct connection {
    atomic_int refs;               /* see "Lifetime" in connection.h */
    struct event_loop *loop;       /* not owned: the loop that does our I/O */
    struct socket sock;            /* owned: closed by the last conn_unref() */
    struct channel channel;        /* ctx = this connection, tied to refs */
    struct inet_address peer;      /* the client's address */
    struct buffer input;           /* owned: bytes read, not yet a whole message */
    struct buffer output;          /* owned: bytes the kernel has not taken */
    size_t max_payload;            /* a larger header is a protocol error */
    size_t last_len;               /* payload bytes of the last message */
    size_t async_jobs;             /* messages whose reply is in a worker */
    size_t async_cost;             /* what is held for them (conn_begin_async) */
    bool closed;                   /* conn_close() ran */
    bool peer_closed;              /* read saw EOF: close once output is out */
    bool discarding;               /* protocol error: input is read and dropped */
    bool shutdown_asked;           /* conn_shutdown(): FIN once output is out */
    bool write_shut;               /* FIN sent after the last reply owed */
    bool pause_on_output;          /* output above CONN_HIGH_WATER pauses reading */
    bool in_batch;                 /* a batch runs (handle_messages): replies wait for it */
    bool reading_paused;           /* backlog above CONN_HIGH_WATER */
    atomic_bool broken;            /* another thread lost a reply: close */
    atomic_size_t evict_mark;      /* held when the server chose to evict it;
                                    * 0: not chosen (conn_evict) */
    struct loop_notice check;      /* posted when broken or evict_mark is set */
    atomic_size_t held;            /* bytes it holds, as last reported;
                                    * read by any thread (conn_held) */
    uint64_t idle_ms;              /* close after this long idle; 0: never */
    uint64_t last_progress_ms;     /* loop clock at the last byte read or written */
    size_t unacked_seen;           /* the kernel's unacknowledged bytes when an
                                    * idle verdict waited; SIZE_MAX: none */
    uint64_t partial_since_ms;     /* since when the input holds the incomplete
                                    * message it holds; 0: none */
    struct timer idle_timer;       /* checks idleness; armed in the loop */
    conn_message_callback message_callback;
    void *message_ctx;             /* for message_callback; not owned */
    conn_close_callback close_callback;
    void *close_ctx;               /* for close_callback; not owned */
    conn_held_callback held_callback;
    void *held_ctx;                /* for held_callback; not owned */
};

static void destroy(struct connection *conn)
{
    /* A job whose end was lost still counted: give it all back. */
    size_t held = atomic_load_explicit(&conn->held, memory_order_relaxed);
    if (held != 0 && conn->held_callback)
        conn->held_callback(conn->held_ctx, conn, held, 0);
    socket_close(&conn->sock);
    buffer_free(&conn->input);
    buffer_free(&conn->output);
    free(conn);
}

void conn_ref(struct connection *conn)
{
    atomic_fetch_add_explicit(&conn->refs, 1, memory_order_relaxed);
}

void conn_unref(struct connection *conn)
{
    /* acq_rel: whatever another holder did to conn happens before destroy. */
    if (atomic_fetch_sub_explicit(&conn->refs, 1, memory_order_acq_rel) == 1)
        destroy(conn);
}

static void hold(void *ctx)
{
    conn_ref(ctx);
}

static void release(void *ctx)
{
    conn_unref(ctx);
}

/* What the connection makes the server hold: the storage of its buffers
 * (lent and viewed memory is not theirs) and what workers hold for it.
 * Capacity, not bytes in use: that is what the heap gave. */
static size_t holding(const struct connection *conn)
{
    return buffer_footprint(&conn->input) + buffer_footprint(&conn->output) +
           conn->async_cost;
}

/* Reports a change of what the connection holds to the server, which
 * keeps the total for the memory budget. Called at the end of every
 * event, task and notice: a few times per batch of messages, and nothing
 * to do in the common case of a connection that holds nothing before and
 * after. */
static void account(struct connection *conn)
{
    size_t now = holding(conn);
    size_t was = atomic_load_explicit(&conn->held, memory_order_relaxed);
    if (now == was)
        return;
    atomic_store_explicit(&conn->held, now, memory_order_relaxed);
    if (conn->held_callback)
        conn->held_callback(conn->held_ctx, conn, was, now);
}

void conn_close(struct connection *conn)
{
    event_loop_assert_in_loop_thread(conn->loop);
    if (conn->closed)
        return;
    conn->closed = true;
    event_loop_cancel(conn->loop, &conn->idle_timer);
    /* Out of epoll before the fd can be closed (by the last unref). */
    channel_remove(&conn->channel);
    /* Nobody will read what is buffered: give the memory back now, not
     * when the last reference goes (a worker's job may keep one a while). */
    buffer_free(&conn->input);
    buffer_free(&conn->output);
    account(conn);
    conn->close_callback(conn->close_ctx, conn);
}

/* Another thread could not hand over a reply: the peer must never get a
 * later one in its place. Set there, acted on here, in the loop. */
static bool close_if_broken(struct connection *conn)
{
    if (!atomic_load(&conn->broken))
        return false;
    conn_close(conn);
    return true;
}

/* The check notice: another thread set broken, or evict_mark. Drops the
 * reference its poster took. */
static void check_broken(void *arg)
{
    struct connection *conn = arg;
    size_t mark = atomic_load(&conn->evict_mark);
    if (!close_if_broken(conn) && mark != 0 && !conn->closed) {
        char name[INET_ADDRESS_STRLEN];
        log_warn("%s: holds %zu bytes, the most while the server is over its "
                 "memory budget; closing",
                 inet_address_to_string(&conn->peer, name, sizeof(name)), mark);
        conn_close(conn);
    }
    conn_unref(conn);
}

/* Another thread lost a reply, or the news that one was sent: the loop
 * must close the connection, and learns it from a notice, which no lack
 * of memory can lose. Any thread. */
static void mark_broken(struct connection *conn)
{
    atomic_store(&conn->broken, true);
    conn_ref(conn);                            /* the notice's */
    if (!event_loop_post_notice(conn->loop, &conn->check))
        conn_unref(conn);                      /* posted already */
}

static void resume_reading(struct connection *conn);

/* More than CONN_HIGH_WATER bytes wait for the peer (replies in the output
 * buffer, and what workers hold for it), or more than CONN_ASYNC_HIGH_WATER
 * in workers: a worker serves other connections too, and their messages
 * queue behind these. */
static bool over_high_water(const struct connection *conn)
{
    return (conn->pause_on_output &&
            buffer_readable(&conn->output) + conn->async_cost > CONN_HIGH_WATER) ||
           conn->async_cost > CONN_ASYNC_HIGH_WATER;
}

/* Bytes went to the kernel: progress, and what the kernel holds unacknowledged
 * is no longer what an idle verdict saw (check_idle). */
static void note_written(struct connection *conn)
{
    conn->last_progress_ms = event_loop_now(conn->loop);
    conn->unacked_seen = SIZE_MAX;
}

/* Writes what the kernel takes now. If some is left, waits for EPOLLOUT.
 * Once all is out: closes if the peer is gone and owed nothing more; after
 * a protocol error, once owed nothing more, sends FIN (and reads on,
 * dropping, until the peer closes); resumes reading if back-pressure
 * paused it. */
static void flush_output(struct connection *conn)
{
    if (buffer_readable(&conn->output) > 0) {
        ssize_t n = buffer_write_fd(&conn->output, conn->sock.fd);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            conn_close(conn);                  /* EPIPE, ECONNRESET */
            return;
        }
        if (n > 0)
            note_written(conn);
    }
    if (buffer_readable(&conn->output) > 0) {
        if (!channel_is_writing(&conn->channel) &&
            channel_enable_writing(&conn->channel) < 0)
            conn_close(conn);
        return;
    }
    buffer_release(&conn->output);             /* idle: pin no memory */
    if (conn->peer_closed && conn->async_jobs == 0) {
        conn_close(conn);                      /* every reply is out */
        return;
    }
    if (channel_is_writing(&conn->channel) &&
        channel_disable_writing(&conn->channel) < 0) {
        conn_close(conn);
        return;
    }
    if ((conn->discarding || conn->shutdown_asked) && !conn->write_shut &&
        conn->async_jobs == 0) {
        conn->write_shut = true;
        if (socket_shutdown_write(&conn->sock) < 0) {
            conn_close(conn);                  /* ENOTCONN: reset meanwhile */
            return;
        }
    }
    if (conn->reading_paused && !conn->in_batch && conn->async_cost == 0)
        resume_reading(conn);
}

/* A header over max_payload: a protocol error. No more requests are taken,
 * but the replies owed for those before it still go out; then FIN, and
 * what the peer still sends is read and dropped until it closes, so that
 * unread bytes cannot turn the close into a reset that destroys replies
 * still on their way (a lingering close). */
static void reject_input(struct connection *conn, size_t len)
{
    char name[INET_ADDRESS_STRLEN];
    log_warn("%s: message of %zu bytes is over the limit of %zu bytes; closing",
             inet_address_to_string(&conn->peer, name, sizeof(name)), len,
             conn->max_payload);
    conn->discarding = true;
    /* What follows is dropped, as one endless bad message: the trickle
     * rule of the idle timer ends it. */
    conn->partial_since_ms = event_loop_now(conn->loop);
}

/* Hands every whole message at the front of in to the callback, until the
 * backlog passes CONN_HIGH_WATER: checked per message, since one read may
 * hold thousands of them. Returns whether it handed on any. */
static bool decode_messages(struct connection *conn, struct buffer *in)
{
    bool took = false;
    while (!over_high_water(conn)) {
        size_t len;
        switch (codec_decode(in, conn->max_payload, &len)) {
        case CODEC_INCOMPLETE:
            return took;
        case CODEC_TOO_LARGE:
            reject_input(conn, len);
            return took;
        case CODEC_MESSAGE:
            conn->last_len = len;
            conn->message_callback(conn->message_ctx, conn,
                                   buffer_peek(in) + CODEC_HEADER_LEN, len);
            took = true;
            if (conn->closed)
                return took;
            buffer_retrieve(in, CODEC_HEADER_LEN + len);
        }
    }
    return took;
}

/* After decoding: the clock of the trickle rule starts when the input
 * begins to hold a message it cannot complete, and again for each new one;
 * an empty input stops it. */
static void note_partial(struct connection *conn, bool took)
{
    if (buffer_readable(&conn->input) == 0)
        conn->partial_since_ms = 0;
    else if (took || conn->partial_since_ms == 0)
        conn->partial_since_ms = event_loop_now(conn->loop);
}

/* The peer closed its write side. Complete requests were handed on already;
 * an incomplete trailing one is dropped. Close once the replies are out,
 * those still in workers included. */
static void handle_peer_closed(struct connection *conn)
{
    conn->peer_closed = true;
    buffer_free(&conn->input);
    conn->partial_since_ms = 0;                /* nothing more is coming */
    if (buffer_readable(&conn->output) == 0 && conn->async_jobs == 0)
        conn_close(conn);
    else if (channel_disable_reading(&conn->channel) < 0)
        conn_close(conn);
}

/* Reads what the socket has. With nothing buffered the bytes land in
 * stack, and *in becomes a view of them: whole messages are decoded where
 * they are, with no copy and no allocation, and keep_tail() saves only an
 * incomplete last one. Otherwise they are appended to the input buffer.
 * After a message longer than the stack, the read goes to the input
 * buffer too (unless the input is being discarded), with room made for a
 * message as long: the next one is likely as long, and then arrives in
 * one read with no copy, where the stack would take two reads and a copy
 * by keep_tail(). The one byte more makes a read that takes the whole
 * message take less than it was offered, so that handle_read() needs no
 * read that says EAGAIN. -1 with errno (ENOMEM). */
static ssize_t read_input(struct connection *conn, char *stack,
                          struct buffer *view, struct buffer **in,
                          size_t *offered)
{
    bool large = conn->last_len >= BUFFER_EXTRA_READ && !conn->discarding &&
                 buffer_readable(&conn->input) == 0;
    if (large &&
        buffer_ensure_writable(&conn->input,
                               CODEC_HEADER_LEN + conn->last_len + 1) < 0)
        return -1;
    if (large || buffer_readable(&conn->input) > 0) {
        *in = &conn->input;
        return buffer_read_fd(&conn->input, conn->sock.fd, offered);
    }
    ssize_t n;
    do {
        n = read(conn->sock.fd, stack, BUFFER_EXTRA_READ);
    } while (n < 0 && errno == EINTR);
    *offered = BUFFER_EXTRA_READ;
    buffer_view(view, stack, n > 0 ? (size_t)n : 0);
    *in = view;
    return n;
}

/* After decoding: keep what is left of in (an incomplete message, or
 * messages that the high water mark left) in the input buffer, and if it
 * starts with an incomplete message whose header is within max_payload,
 * make room there for all of it: the rest then arrives with no regrowth
 * and no copy. The room is made before the tail of a view is copied in,
 * so the tail is copied once. Reserved pages cost no memory until bytes
 * land in them. The header is checked here, not taken as checked:
 * decoding may have stopped at the high water mark right before it, and a
 * 4 GiB header must reserve nothing (decode_messages rejects it when it
 * gets there). -1 with errno ENOMEM. */
static int keep_tail(struct connection *conn, struct buffer *in)
{
    size_t have = buffer_readable(in), len;
    if (have == 0)
        return 0;                      /* the read ended on a message boundary */
    size_t want = have;                /* what the input buffer will hold */
    if (have >= CODEC_HEADER_LEN &&
        codec_decode(in, conn->max_payload, &len) == CODEC_INCOMPLETE)
        want = CODEC_HEADER_LEN + len;
    size_t held = buffer_readable(&conn->input);   /* 0 when in is a view */
    if (want > held && buffer_ensure_writable(&conn->input, want - held) < 0)
        return -1;
    if (in == &conn->input)
        return 0;
    return buffer_append(&conn->input, buffer_peek(in), have);
}

/* Handles the messages in in, then writes all their replies at once. With
 * nothing queued before them, the replies are framed in stack memory lent
 * to the output buffer (replies, CONN_STACK_REPLIES bytes): the kernel
 * usually takes them all, and only what it does not take is copied to the
 * heap. No allocation per batch, and an idle connection still pins no
 * memory. Messages left when the backlog passes CONN_HIGH_WATER stay in
 * the input (the caller pauses reading), unless the kernel takes the
 * replies at once. */
static void handle_messages(struct connection *conn, struct buffer *in,
                            char *replies)
{
    bool lent = buffer_readable(&conn->output) == 0;
    if (lent) {
        buffer_free(&conn->output);
        buffer_lend(&conn->output, replies, CONN_STACK_REPLIES);
    }
    conn->in_batch = true;
    bool took = false;
    for (;;) {
        took |= decode_messages(conn, in);
        if (conn->closed || conn->discarding || !over_high_water(conn))
            break;
        flush_output(conn);                    /* and go on if it all went */
        if (conn->closed || over_high_water(conn))
            break;
    }
    if (conn->discarding)
        buffer_free(&conn->input);             /* the rest is dropped */
    else if (!conn->closed && keep_tail(conn, in) < 0)
        conn_close(conn);                      /* ENOMEM */
    else if (!conn->closed)
        note_partial(conn, took);
    if (!conn->closed)
        flush_output(conn);
    conn->in_batch = false;
    if (!lent)
        return;
    if (conn->closed)
        buffer_free(&conn->output);            /* nobody to send it to */
    else if (buffer_end_loan(&conn->output) < 0)
        conn_close(conn);                      /* ENOMEM */
}

/* The backlog waits: stop reading requests until it is gone (flush_output
 * resumes). */
static void pause_reading(struct connection *conn)
{
    conn->reading_paused = true;
    if (channel_disable_reading(&conn->channel) < 0)
        conn_close(conn);
}

/* The backlog is gone: first the messages that the pause left in the input,
 * then the socket again. */
static void resume_reading(struct connection *conn)
{
    char replies[CONN_STACK_REPLIES];

    conn->reading_paused = false;
    /* A pause is the server's doing: the trickle clock starts again. */
    if (conn->partial_since_ms != 0)
        conn->partial_since_ms = event_loop_now(conn->loop);
    handle_messages(conn, &conn->input, replies);
    if (conn->closed)
        return;
    if (over_high_water(conn)) {
        conn->reading_paused = true;           /* reading is still off */
        return;
    }
    /* ET: re-enabling makes epoll report data already waiting. */
    if (channel_enable_reading(&conn->channel) < 0)
        conn_close(conn);
}

/* Readable (or EOF, or an error). Each read is followed by the messages it
 * completed and one write of all their replies. At most CONN_READ_BUDGET
 * bytes are read per event: a peer that sends without pause must not keep
 * the loop from its other connections. */
static void read_some(struct connection *conn)
{
    size_t budget = CONN_READ_BUDGET;

    if (conn->closed || conn->peer_closed || conn->reading_paused ||
        close_if_broken(conn))
        return;
    for (;;) {
        char stack[BUFFER_EXTRA_READ];
        char replies[CONN_STACK_REPLIES];
        struct buffer view, *in;
        size_t offered;
        ssize_t n = read_input(conn, stack, &view, &in, &offered);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            conn_close(conn);                  /* ECONNRESET, ENOMEM */
            return;
        }
        if (n == 0) {
            handle_peer_closed(conn);
            return;
        }
        conn->last_progress_ms = event_loop_now(conn->loop);
        if (!conn->discarding)
            handle_messages(conn, in, replies);
        if (conn->closed)
            return;
        if (over_high_water(conn)) {
            pause_reading(conn);
            return;
        }
        /* A read that took less than it was offered emptied the socket,
         * and edge-triggered epoll reports the next arrival (data, FIN or
         * error) as a new event: no need for a read that says EAGAIN.
         * Unless this event carried the FIN already: read on to see EOF. */
        if ((size_t)n < offered && !(conn->channel.revents & EPOLLRDHUP))
            break;
        if ((size_t)n >= budget) {
            /* Its turn is over; the others' come first. ET reports no new
             * edge for bytes already waiting, but re-enabling reading makes
             * epoll report them again, after the fds ready now. */
            if (channel_enable_reading(&conn->channel) < 0) {
                conn_close(conn);
                return;
            }
            break;
        }
        budget -= (size_t)n;
    }
    buffer_release(&conn->input);              /* idle: pin no memory */
}

static void handle_read(void *ctx)
{
    read_some(ctx);
    account(ctx);
}

static void handle_write(void *ctx)
{
    struct connection *conn = ctx;
    if (!conn->closed)
        flush_output(conn);
    account(conn);
}

static void handle_close(void *ctx)
{
    conn_close(ctx);
}

struct connection *conn_new(struct event_loop *loop, struct socket *sock,
                            const struct inet_address *peer,
                            size_t max_payload)
{
    struct connection *conn = calloc(1, sizeof(*conn));
    if (!conn)
        return NULL;
    atomic_init(&conn->refs, 1);
    atomic_init(&conn->broken, false);
    atomic_init(&conn->evict_mark, 0);
    conn->pause_on_output = true;
    atomic_init(&conn->held, 0);
    conn->loop = loop;
    conn->sock = *sock;
    conn->peer = *peer;
    buffer_init(&conn->input);
    buffer_init(&conn->output);
    conn->max_payload = max_payload;
    channel_init(&conn->channel, loop, sock->fd, conn);
    channel_set_read_callback(&conn->channel, handle_read);
    channel_set_write_callback(&conn->channel, handle_write);
    channel_set_close_callback(&conn->channel, handle_close);
    channel_set_error_callback(&conn->channel, handle_close);
    channel_tie(&conn->channel, hold, release);
    channel_use_et(&conn->channel);
    loop_notice_init(&conn->check, check_broken, conn);
    timer_init(&conn->idle_timer);
    return conn;
}

void conn_set_idle_timeout(struct connection *conn, uint64_t idle_ms)
{
    conn->idle_ms = idle_ms;
}

/* Idle for idle_ms by what the server did. But replies written long ago
 * may still be on their way, in the kernel's buffers at both ends, and a
 * client that reads them makes progress the server's reads and writes do
 * not show: its window updates let the kernel send on, and the bytes it
 * acknowledges leave our socket's queue. So when bytes are unacknowledged
 * the verdict waits one more idle_ms, and then a queue that has shrunk
 * (to nothing, perhaps) is progress. Only a client that takes nothing at
 * all for that long is idle (one that reads less than a window per idle_ms
 * looks so too: SIOCOUTQ moves by what it acknowledges). */
static bool still_taking(struct connection *conn, uint64_t now)
{
    size_t unacked;
    if (socket_unacked(&conn->sock, &unacked) < 0)
        return false;
    if (conn->unacked_seen != SIZE_MAX && unacked < conn->unacked_seen) {
        conn->last_progress_ms = now;          /* it took some: progress */
        conn->unacked_seen = unacked;
        return true;
    }
    if (unacked == 0 || conn->unacked_seen != SIZE_MAX)
        return false;              /* nothing on its way, or it took nothing */
    conn->unacked_seen = unacked;              /* first look: wait and see */
    return true;
}

/* The idle timer fired. Progress only stamps last_progress_ms (O(1), no
 * timer work per message); the timer, when it fires, closes the connection
 * if it is idle or trickling, else re-arms for the time that is left.
 * Idle: nothing read from it and nothing written to it for idle_ms, no job
 * of its in a worker (then the wait is the server's), and nothing taken of
 * what was written (still_taking). Trickling: one message incomplete for
 * idle_ms, bytes arriving or not, unless the server itself paused reading
 * it (nginx's client_body_timeout has the same aim). */
static void check_idle(void *arg)
{
    struct connection *conn = arg;
    uint64_t now = event_loop_now(conn->loop);
    uint64_t idle_end = conn->last_progress_ms + conn->idle_ms;
    uint64_t trickle_end = conn->partial_since_ms && !conn->reading_paused
                           ? conn->partial_since_ms + conn->idle_ms : UINT64_MAX;
    const char *why = NULL;
    uint64_t since = 0;

    if (conn->async_jobs > 0)
        idle_end = now + conn->idle_ms;        /* a worker owes it a reply */
    if (now >= idle_end && now < trickle_end && still_taking(conn, now))
        idle_end = now + conn->idle_ms;        /* see again then */
    if (now >= trickle_end) {
        why = "a message incomplete";
        since = conn->partial_since_ms;
    } else if (now >= idle_end) {
        why = "idle";
        since = conn->last_progress_ms;
    }
    if (why) {
        char name[INET_ADDRESS_STRLEN];
        log_debug("%s: %s for %llu ms; closing",
                  inet_address_to_string(&conn->peer, name, sizeof(name)), why,
                  (unsigned long long)(now - since));
        conn_close(conn);                      /* may free conn */
        return;
    }
    uint64_t next = idle_end < trickle_end ? idle_end : trickle_end;
    if (event_loop_run_after(conn->loop, &conn->idle_timer, next - now,
                             check_idle, conn) < 0)
        log_error("idle timer: %s", strerror(errno));
}

void conn_set_message_callback(struct connection *conn,
                               conn_message_callback fn, void *ctx)
{
    conn->message_callback = fn;
    conn->message_ctx = ctx;
}

void conn_set_close_callback(struct connection *conn, conn_close_callback fn,
                             void *ctx)
{
    conn->close_callback = fn;
    conn->close_ctx = ctx;
}

void conn_set_held_callback(struct connection *conn, conn_held_callback fn,
                            void *ctx)
{
    conn->held_callback = fn;
    conn->held_ctx = ctx;
}

size_t conn_held(const struct connection *conn)
{
    return atomic_load_explicit(&conn->held, memory_order_relaxed);
}

size_t conn_evict(struct connection *conn)
{
    size_t held = conn_held(conn), unmarked = 0;
    if (held == 0 ||
        !atomic_compare_exchange_strong(&conn->evict_mark, &unmarked, held))
        return 0;                              /* nothing, or chosen already */
    conn_ref(conn);                            /* the notice's */
    if (!event_loop_post_notice(conn->loop, &conn->check))
        conn_unref(conn);                      /* posted already */
    return held;
}

size_t conn_evict_mark(const struct connection *conn)
{
    return atomic_load(&conn->evict_mark);
}

/* Work for the connection's loop from another thread. The task holds a
 * reference to the connection until it has run. */
struct conn_task {
    struct connection *conn;       /* a reference, dropped after run */
    void (*run)(struct connection *conn, void *args);
    max_align_t args[];            /* run's arguments, copied in */
};

static void conn_task_run(void *arg)
{
    struct conn_task *task = arg;
    task->run(task->conn, task->args);
    account(task->conn);
    conn_unref(task->conn);
    free(task);
}

/* Queues run(conn, a copy of size bytes of args) on the connection's
 * loop, with a reference for the task: the one way another thread hands
 * the connection work. -1 with errno ENOMEM: nothing is queued, and args
 * are still the caller's. */
static int queue_task(struct connection *conn,
                      void (*run)(struct connection *conn, void *args),
                      const void *args, size_t size)
{
    struct conn_task *task = malloc(sizeof(*task) + size);
    if (!task)
        return -1;
    task->conn = conn;
    task->run = run;
    if (size > 0)
        memcpy(task->args, args, size);
    conn_ref(conn);
    if (event_loop_queue_in_loop(conn->loop, conn_task_run, task) == 0)
        return 0;
    conn_unref(conn);
    free(task);
    return -1;
}

static void establish_in_loop(struct connection *conn, void *args)
{
    (void)args;
    conn->last_progress_ms = event_loop_now(conn->loop);
    conn->unacked_seen = SIZE_MAX;             /* no idle verdict waits */
    if (!conn->closed &&
        (channel_enable_reading(&conn->channel) < 0 ||
         (conn->idle_ms > 0 &&
          event_loop_run_after(conn->loop, &conn->idle_timer, conn->idle_ms,
                               check_idle, conn) < 0))) {
        log_error("new connection: %s", strerror(errno));
        conn_close(conn);
    }
}

int conn_establish(struct connection *conn)
{
    if (event_loop_is_in_loop_thread(conn->loop)) {
        establish_in_loop(conn, NULL);
        return 0;
    }
    return queue_task(conn, establish_in_loop, NULL, 0);
}

int conn_fd(const struct connection *conn)
{
    return conn->sock.fd;
}

/* New output was appended: write it now, unless the batch of handle_read
 * will (one write for all its replies) or EPOLLOUT is awaited. */
static void output_appended(struct connection *conn)
{
    if (!conn->in_batch && !channel_is_writing(&conn->channel))
        flush_output(conn);
}

/* The bytes of the framed message of these parts, header included, or 0
 * with errno EINVAL when there are more than CONN_MAX_PARTS parts. */
static size_t framed_size(const struct iovec *parts, int nparts)
{
    if (nparts > CONN_MAX_PARTS) {
        errno = EINVAL;
        return 0;
    }
    size_t total = CODEC_HEADER_LEN;
    for (int i = 0; i < nparts; i++)
        total += parts[i].iov_len;
    return total;
}

/* Appends the framed message (total bytes, from framed_size): room is made
 * once, the header is encoded in place and the parts are copied behind it.
 * This runs for every message, so it does nothing else. -1 with errno
 * ENOMEM. */
static inline int append_framed(struct buffer *out, const struct iovec *parts,
                                int nparts, size_t total)
{
    if (buffer_ensure_writable(out, total) < 0)
        return -1;
    char *dst = buffer_begin_write(out);
    codec_encode_header((unsigned char *)dst,
                        (uint32_t)(total - CODEC_HEADER_LEN));
    dst += CODEC_HEADER_LEN;
    for (int i = 0; i < nparts; i++) {
        size_t len = parts[i].iov_len;
        if (len > 0)                           /* an empty part may be NULL */
            memcpy(dst, parts[i].iov_base, len);
        dst += len;
    }
    buffer_has_written(out, total);
    return 0;
}

/* Writes a large framed message (total bytes) straight from the caller's
 * memory with one writev(), when nothing is queued ahead of it: copying a
 * megabyte costs more than the call. What the kernel does not take is
 * appended to the output buffer. -1 with errno: EPIPE, ECONNRESET and the
 * like from the write, or ENOMEM. Rare next to the messages that are
 * appended, and with a large frame of its own: cold and out of line, so
 * that send_or_append needs no frame for it. */
static __attribute__((cold, noinline))
int write_framed(struct connection *conn, const struct iovec *parts,
                 int nparts, size_t total)
{
    unsigned char header[CODEC_HEADER_LEN];
    struct iovec iov[1 + CONN_MAX_PARTS];
    codec_encode_header(header, (uint32_t)(total - CODEC_HEADER_LEN));
    iov[0] = (struct iovec){ .iov_base = header, .iov_len = CODEC_HEADER_LEN };
    memcpy(iov + 1, parts, (size_t)nparts * sizeof(*parts));

    ssize_t n;
    do {
        n = writev(conn->sock.fd, iov, 1 + nparts);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
        return -1;
    if (n > 0)
        note_written(conn);
    size_t skip = n > 0 ? (size_t)n : 0;
    if (skip == total)
        return 0;
    /* The rest: past the skip bytes already written, copied in once. */
    size_t left = total - skip;
    if (buffer_ensure_writable(&conn->output, left) < 0)
        return -1;
    char *dst = buffer_begin_write(&conn->output);
    for (int i = 0; i <= nparts; i++) {
        size_t len = iov[i].iov_len;
        if (skip >= len) {
            skip -= len;
            continue;
        }
        memcpy(dst, (char *)iov[i].iov_base + skip, len - skip);
        dst += len - skip;
        skip = 0;
    }
    buffer_has_written(&conn->output, left);
    return 0;
}

/* Sends a framed message: a large one with an empty output buffer is
 * written at once, every other one is appended to the output buffer.
 * -1 with errno if the connection failed. */
static int send_or_append(struct connection *conn, const struct iovec *parts,
                          int nparts)
{
    size_t total = framed_size(parts, nparts);
    if (total == 0)
        return -1;
    if (total >= CONN_DIRECT_WRITE && buffer_readable(&conn->output) == 0)
        return write_framed(conn, parts, nparts, total);
    return append_framed(&conn->output, parts, nparts, total);
}

/* The task of a reply built in another thread: args is a struct buffer
 * holding the framed message, which the task owns. */
static void send_in_loop(struct connection *conn, void *args)
{
    struct buffer *msg = args;

    if (!conn->closed && !close_if_broken(conn)) {
        if (buffer_readable(&conn->output) == 0) {
            /* Nothing queued: the task's buffer becomes the output. */
            buffer_free(&conn->output);
            conn->output = *msg;
            buffer_init(msg);
            output_appended(conn);
        } else if (buffer_append(&conn->output, buffer_peek(msg),
                                 buffer_readable(msg)) < 0) {
            log_error("reply: %s", strerror(errno));
            conn_close(conn);
        } else {
            output_appended(conn);
        }
    }
    buffer_free(msg);
}

/* conn_send_message() from another thread: frames a copy and lets the
 * loop's thread send it. Out of line, so that conn_send_message in the
 * loop's thread needs no frame for it. */
static __attribute__((noinline))
void send_from_other_thread(struct connection *conn,
                            const struct iovec *parts, int nparts)
{
    struct buffer msg;
    buffer_init(&msg);
    size_t total = framed_size(parts, nparts);
    if (total > 0 && append_framed(&msg, parts, nparts, total) == 0 &&
        queue_task(conn, send_in_loop, &msg, sizeof(msg)) == 0)
        return;                                /* the task owns msg now */
    buffer_free(&msg);
    log_error("reply from another thread: %s", strerror(errno));
    mark_broken(conn);
}

void conn_send_message(struct connection *conn, const struct iovec *parts,
                       int nparts)
{
    if (!event_loop_is_in_loop_thread(conn->loop)) {
        send_from_other_thread(conn, parts, nparts);
        return;
    }
    if (conn->closed)
        return;                                /* nobody to send it to */
    if (send_or_append(conn, parts, nparts) < 0) {
        if (errno == ENOMEM || errno == EINVAL)
            log_error("reply: %s", strerror(errno));
        conn_close(conn);
        return;
    }
    output_appended(conn);
}

void conn_set_pause_on_output(struct connection *conn, bool on)
{
    conn->pause_on_output = on;
}

void conn_begin_batch(struct connection *conn)
{
    event_loop_assert_in_loop_thread(conn->loop);
    conn->in_batch = true;
}

void conn_end_batch(struct connection *conn)
{
    event_loop_assert_in_loop_thread(conn->loop);
    conn->in_batch = false;
    if (!conn->closed && !channel_is_writing(&conn->channel))
        flush_output(conn);
    account(conn);
}

void conn_shutdown(struct connection *conn)
{
    event_loop_assert_in_loop_thread(conn->loop);
    conn->shutdown_asked = true;
    if (!conn->closed)
        output_appended(conn);                 /* the FIN, if all is out */
    account(conn);
}

size_t conn_output_pending(const struct connection *conn)
{
    return buffer_readable(&conn->output);
}

void conn_begin_async(struct connection *conn, size_t cost)
{
    event_loop_assert_in_loop_thread(conn->loop);
    conn->async_jobs++;
    conn->async_cost += cost;
}

static void end_async_in_loop(struct connection *conn, size_t cost)
{
    conn->async_jobs--;
    conn->async_cost -= cost;
    if (!conn->closed && close_if_broken(conn))
        return;
    /* The last reply a half-closed peer was owed, or the end of the
     * back-pressure: flush_output decides. */
    if (!conn->closed && !conn->in_batch)
        flush_output(conn);
}

/* The task of conn_end_async() from another thread: args is the cost. */
static void end_async_task(struct connection *conn, void *args)
{
    end_async_in_loop(conn, *(size_t *)args);
}

void conn_end_async(struct connection *conn, size_t cost)
{
    if (event_loop_is_in_loop_thread(conn->loop)) {
        end_async_in_loop(conn, cost);
        return;
    }
    if (queue_task(conn, end_async_task, &cost, sizeof(cost)) == 0)
        return;
    /* Without the news the connection would wait for this reply forever
     * (a half-closed peer would never be closed): close it instead. */
    log_error("end of a reply: %s", strerror(errno));
    mark_broken(conn);
}
