/* connection.c - see connection.h. */
#include "connection.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
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
    struct inet_address peer;      /* the client's address */
    struct buffer input;           /* owned: loop thread only */
    size_t max_payload;            /* a larger header is a protocol error */
    size_t last_len;               /* payload bytes of the last message */
    pthread_mutex_t lock;          /* guards the fields below */
    struct channel channel;        /* ctx = this connection, tied to refs */
    struct buffer output;          /* owned: bytes the kernel has not taken */
    size_t async_jobs;             /* messages whose reply is in a worker */
    size_t async_cost;             /* what is held for them (conn_begin_async) */
    bool closed;                   /* conn_close() ran */
    bool peer_closed;              /* read saw EOF: close once output is out */
    bool discarding;               /* protocol error: input is read and dropped */
    bool write_shut;               /* FIN sent after the last reply owed */
    bool in_batch;                 /* a batch runs (handle_messages): replies wait for it */
    bool reading_paused;           /* backlog above CONN_HIGH_WATER */
    bool broken;                   /* a reply was lost: close, send no more */
    conn_message_callback message_callback;
    void *message_ctx;             /* for message_callback; not owned */
    conn_close_callback close_callback;
    void *close_ctx;               /* for close_callback; not owned */
};

static void destroy(struct connection *conn)
{
    socket_close(&conn->sock);
    buffer_free(&conn->input);
    buffer_free(&conn->output);
    pthread_mutex_destroy(&conn->lock);
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

/* Locked, loop thread. The close callback runs with the lock held; the
 * caller holds a reference, so conn outlives it. */
static void close_locked(struct connection *conn)
{
    event_loop_assert_in_loop_thread(conn->loop);
    if (conn->closed)
        return;
    conn->closed = true;
    /* Out of epoll before the fd can be closed (by the last unref). */
    channel_remove(&conn->channel);
    conn->close_callback(conn->close_ctx, conn);
}

void conn_close(struct connection *conn)
{
    conn_ref(conn);                  /* the callback may drop the last one */
    pthread_mutex_lock(&conn->lock);
    close_locked(conn);
    pthread_mutex_unlock(&conn->lock);
    conn_unref(conn);
}

/* Locked, in a worker: EPOLLOUT is reported at once on a writable socket,
 * so turning it on brings the loop thread to handle_write, and from there
 * to flush_output, for what only the loop thread may do. */
static void wake_loop(struct connection *conn)
{
    if (!channel_is_writing(&conn->channel) &&
        channel_enable_writing(&conn->channel) < 0)
        log_error("enable writing: %s", strerror(errno));
}

/* Locked. Only the loop thread may close (take the channel out of its
 * loop); a worker wakes the loop thread, which closes. */
static void close_soon(struct connection *conn)
{
    if (event_loop_is_in_loop_thread(conn->loop))
        close_locked(conn);
    else
        wake_loop(conn);
}

static void resume_reading(struct connection *conn);

/* Locked. Resuming decodes the input, the loop thread's alone: a worker
 * wakes the loop thread, which resumes. */
static void resume_soon(struct connection *conn)
{
    if (event_loop_is_in_loop_thread(conn->loop))
        resume_reading(conn);
    else
        wake_loop(conn);
}

/* Locked. More than CONN_HIGH_WATER bytes wait for the peer (replies in
 * the output buffer, and what workers hold for it), or more than
 * CONN_ASYNC_HIGH_WATER in workers: a worker serves other connections too,
 * and their messages queue behind these. */
static bool over_high_water(const struct connection *conn)
{
    return buffer_readable(&conn->output) + conn->async_cost > CONN_HIGH_WATER ||
           conn->async_cost > CONN_ASYNC_HIGH_WATER;
}

/* Locked. Writes what the kernel takes now. If some is left, waits for
 * EPOLLOUT. Once all is out: closes if the peer is gone and owed nothing
 * more; after a protocol error, once owed nothing more, sends FIN (and
 * reads on, dropping, until the peer closes); resumes reading if
 * back-pressure paused it. */
static void flush_output(struct connection *conn)
{
    if (conn->broken) {
        close_soon(conn);
        return;
    }
    if (buffer_readable(&conn->output) > 0 &&
        buffer_write_fd(&conn->output, conn->sock.fd) < 0 &&
        errno != EAGAIN && errno != EWOULDBLOCK) {
        close_soon(conn);                      /* EPIPE, ECONNRESET */
        return;
    }
    if (buffer_readable(&conn->output) > 0) {
        if (!channel_is_writing(&conn->channel) &&
            channel_enable_writing(&conn->channel) < 0)
            close_soon(conn);
        return;
    }
    buffer_release(&conn->output);             /* idle: pin no memory */
    if (conn->peer_closed && conn->async_jobs == 0) {
        close_soon(conn);                      /* every reply is out */
        return;
    }
    if (channel_is_writing(&conn->channel) &&
        channel_disable_writing(&conn->channel) < 0) {
        close_soon(conn);
        return;
    }
    if (conn->discarding && !conn->write_shut && conn->async_jobs == 0) {
        conn->write_shut = true;
        if (socket_shutdown_write(&conn->sock) < 0) {
            close_soon(conn);                  /* ENOTCONN: reset meanwhile */
            return;
        }
    }
    if (conn->reading_paused && !conn->in_batch && conn->async_cost == 0)
        resume_soon(conn);
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
    pthread_mutex_lock(&conn->lock);
    conn->discarding = true;
    pthread_mutex_unlock(&conn->lock);
}

/* Hands every whole message at the front of in to the callback, until the
 * backlog passes CONN_HIGH_WATER: checked per message, since one read may
 * hold thousands of them. Unlocked: the input is the loop thread's alone,
 * and the callback may send (which locks); the check locks. */
static void decode_messages(struct connection *conn, struct buffer *in)
{
    for (;;) {
        pthread_mutex_lock(&conn->lock);
        bool over = over_high_water(conn);
        pthread_mutex_unlock(&conn->lock);
        if (over)
            return;
        size_t len;
        switch (codec_decode(in, conn->max_payload, &len)) {
        case CODEC_INCOMPLETE:
            return;
        case CODEC_TOO_LARGE:
            reject_input(conn, len);
            return;
        case CODEC_MESSAGE:
            conn->last_len = len;
            conn->message_callback(conn->message_ctx, conn,
                                   buffer_peek(in) + CODEC_HEADER_LEN, len);
            if (conn->closed)
                return;
            buffer_retrieve(in, CODEC_HEADER_LEN + len);
        }
    }
}

/* Locked. The peer closed its write side. Complete requests were handed
 * on already; an incomplete trailing one is dropped. Close once the
 * replies are out, those still in workers included. */
static void handle_peer_closed(struct connection *conn)
{
    conn->peer_closed = true;
    buffer_free(&conn->input);
    if (buffer_readable(&conn->output) == 0 && conn->async_jobs == 0)
        close_locked(conn);
    else if (channel_disable_reading(&conn->channel) < 0)
        close_locked(conn);
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
 * replies at once. Locked, but unlocks while the messages are handled:
 * the callback may send, which locks. A worker's reply may land in the
 * lent memory too; the lock orders it before the loan ends. */
static void handle_messages(struct connection *conn, struct buffer *in,
                            char *replies)
{
    bool lent = buffer_readable(&conn->output) == 0;
    if (lent) {
        buffer_free(&conn->output);
        buffer_lend(&conn->output, replies, CONN_STACK_REPLIES);
    }
    conn->in_batch = true;
    for (;;) {
        pthread_mutex_unlock(&conn->lock);
        decode_messages(conn, in);
        pthread_mutex_lock(&conn->lock);
        if (conn->closed || conn->discarding || !over_high_water(conn))
            break;
        flush_output(conn);                    /* and go on if it all went */
        if (conn->closed || over_high_water(conn))
            break;
    }
    if (conn->discarding)
        buffer_free(&conn->input);             /* the rest is dropped */
    else if (!conn->closed && keep_tail(conn, in) < 0)
        close_locked(conn);                    /* ENOMEM */
    if (!conn->closed)
        flush_output(conn);
    conn->in_batch = false;
    if (!lent)
        return;
    if (conn->closed)
        buffer_free(&conn->output);            /* nobody to send it to */
    else if (buffer_end_loan(&conn->output) < 0)
        close_locked(conn);                    /* ENOMEM */
}

/* Locked. The backlog waits: stop reading requests until it is gone
 * (flush_output resumes). */
static void pause_reading(struct connection *conn)
{
    conn->reading_paused = true;
    if (channel_disable_reading(&conn->channel) < 0)
        close_locked(conn);
}

/* Locked, loop thread. The backlog is gone: first the messages that the
 * pause left in the input, then the socket again. */
static void resume_reading(struct connection *conn)
{
    char replies[CONN_STACK_REPLIES];

    conn->reading_paused = false;
    handle_messages(conn, &conn->input, replies);
    if (conn->closed)
        return;
    if (over_high_water(conn)) {
        conn->reading_paused = true;           /* reading is still off */
        return;
    }
    /* ET: re-enabling makes epoll report data already waiting. */
    if (channel_enable_reading(&conn->channel) < 0)
        close_locked(conn);
}

/* Readable (or EOF, or an error). Each read is followed by the messages it
 * completed and one write of all their replies. At most CONN_READ_BUDGET
 * bytes are read per event: a peer that sends without pause must not keep
 * the loop from its other connections. */
static void handle_read(void *ctx)
{
    struct connection *conn = ctx;
    size_t budget = CONN_READ_BUDGET;

    pthread_mutex_lock(&conn->lock);
    bool skip = conn->closed || conn->peer_closed || conn->reading_paused;
    pthread_mutex_unlock(&conn->lock);
    if (skip)
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
            pthread_mutex_lock(&conn->lock);
            handle_peer_closed(conn);
            pthread_mutex_unlock(&conn->lock);
            return;
        }
        pthread_mutex_lock(&conn->lock);
        if (!conn->discarding)
            handle_messages(conn, in, replies);
        if (conn->closed) {
            pthread_mutex_unlock(&conn->lock);
            return;
        }
        if (over_high_water(conn)) {
            pause_reading(conn);
            pthread_mutex_unlock(&conn->lock);
            return;
        }
        pthread_mutex_unlock(&conn->lock);
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
            pthread_mutex_lock(&conn->lock);
            if (channel_enable_reading(&conn->channel) < 0)
                close_locked(conn);
            pthread_mutex_unlock(&conn->lock);
            if (conn->closed)
                return;
            break;
        }
        budget -= (size_t)n;
    }
    buffer_release(&conn->input);              /* idle: pin no memory */
}

static void handle_write(void *ctx)
{
    struct connection *conn = ctx;
    pthread_mutex_lock(&conn->lock);
    if (!conn->closed)
        flush_output(conn);
    pthread_mutex_unlock(&conn->lock);
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
    conn->loop = loop;
    pthread_mutex_init(&conn->lock, NULL);
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
    return conn;
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

int conn_establish(struct connection *conn)
{
    /* Called from the acceptor's thread: the lock publishes everything
     * conn_new() wrote to the loop thread that takes it next. */
    pthread_mutex_lock(&conn->lock);
    int rc = channel_enable_reading(&conn->channel);
    pthread_mutex_unlock(&conn->lock);
    return rc;
}

int conn_fd(const struct connection *conn)
{
    return conn->sock.fd;
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

void conn_send_message(struct connection *conn, const struct iovec *parts,
                       int nparts)
{
    pthread_mutex_lock(&conn->lock);
    if (conn->closed) {
        pthread_mutex_unlock(&conn->lock);
        return;                                /* nobody to send it to */
    }
    if (send_or_append(conn, parts, nparts) < 0) {
        /* The peer must never get a later reply in this one's place. */
        if (errno == ENOMEM || errno == EINVAL)
            log_error("reply: %s", strerror(errno));
        buffer_free(&conn->output);
        conn->broken = true;
        close_soon(conn);
    } else if (!conn->in_batch && !channel_is_writing(&conn->channel)) {
        /* Inside handle_read the batch's replies go out in one write after
         * the batch; while EPOLLOUT is awaited, handle_write sends them. */
        flush_output(conn);
    }
    pthread_mutex_unlock(&conn->lock);
}

void conn_begin_async(struct connection *conn, size_t cost)
{
    event_loop_assert_in_loop_thread(conn->loop);
    pthread_mutex_lock(&conn->lock);
    conn->async_jobs++;
    conn->async_cost += cost;
    pthread_mutex_unlock(&conn->lock);
}

void conn_end_async(struct connection *conn, size_t cost)
{
    pthread_mutex_lock(&conn->lock);
    conn->async_jobs--;
    conn->async_cost -= cost;
    /* The last reply a half-closed peer was owed, or the end of the
     * back-pressure: flush_output decides. */
    if (!conn->closed && !conn->in_batch)
        flush_output(conn);
    pthread_mutex_unlock(&conn->lock);
}
