/* peer_libevent.c - the reference peer on libevent 2: one event_base, one
 * bufferevent per connection.
 *
 *   ./peer_libevent IP PORT [-h] [-m BYTES] [--raw]
 *
 * Raw echo moves the input evbuffer's chains to the output evbuffer
 * (evbuffer_add_buffer: no copy). Framed reply peeks at each 4-byte header,
 * writes the 10-byte reply head and moves the payload across with
 * evbuffer_remove_buffer. A header over -m closes the connection.
 *
 * Back-pressure: when a connection's output passes PEER_HIGH_WATER, reading
 * stops; the write low-watermark (PEER_LOW_WATER) calls on_write once the
 * output has drained below it, and reading resumes. At end of input the
 * connection flushes what it owes (write low-watermark 0) and is freed.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "peer_common.h"

#define MAX_SINGLE_IO (256 * 1024)    /* bytes per read/write call */

static struct peer_opts opts;

static void on_write(struct bufferevent *bev, void *arg);
static void on_event(struct bufferevent *bev, short what, void *arg);

static void check_backpressure(struct bufferevent *bev)
{
    if (evbuffer_get_length(bufferevent_get_output(bev)) > PEER_HIGH_WATER)
        bufferevent_disable(bev, EV_READ);
}

static void on_read_raw(struct bufferevent *bev, void *arg)
{
    (void)arg;
    evbuffer_add_buffer(bufferevent_get_output(bev), bufferevent_get_input(bev));
    check_backpressure(bev);
}

static void on_read_framed(struct bufferevent *bev, void *arg)
{
    struct evbuffer *in = bufferevent_get_input(bev);
    struct evbuffer *out = bufferevent_get_output(bev);
    (void)arg;

    for (;;) {
        size_t len = evbuffer_get_length(in);
        uint8_t head[REPLY_HEAD_LEN];
        if (len < 4)
            break;
        evbuffer_copyout(in, head, 4);
        uint32_t n = peer_get_be32(head);
        if (n > opts.max_payload) {
            fprintf(stderr, "%s: message of %u bytes exceeds -m %u, closing "
                    "the connection\n", opts.prog, n, opts.max_payload);
            bufferevent_free(bev);
            return;
        }
        if (len - 4 < n)
            break;
        evbuffer_drain(in, 4);
        peer_reply_head(head, n);
        evbuffer_add(out, head, sizeof(head));
        evbuffer_remove_buffer(in, out, n);
    }
    check_backpressure(bev);
}

/* Output is at or below the write low-watermark. */
static void on_write(struct bufferevent *bev, void *arg)
{
    (void)arg;
    if (!(bufferevent_get_enabled(bev) & EV_READ))
        bufferevent_enable(bev, EV_READ);
}

/* End of input: everything owed is flushed, then the connection is freed. */
static void on_flushed(struct bufferevent *bev, void *arg)
{
    (void)arg;
    if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        bufferevent_free(bev);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)arg;
    if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) &&
        evbuffer_get_length(bufferevent_get_output(bev)) > 0) {
        bufferevent_disable(bev, EV_READ);
        bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
        bufferevent_setcb(bev, NULL, on_flushed, on_event, NULL);
        return;
    }
    bufferevent_free(bev);              /* EOF with nothing owed, or error */
}

static void on_accept(struct evconnlistener *lev, evutil_socket_t fd,
                      struct sockaddr *sa, int socklen, void *arg)
{
    struct event_base *base = evconnlistener_get_base(lev);
    int one = 1;
    (void)sa, (void)socklen, (void)arg;

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct bufferevent *bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL) {
        evutil_closesocket(fd);
        return;
    }
    bufferevent_set_max_single_read(bev, MAX_SINGLE_IO);
    bufferevent_set_max_single_write(bev, MAX_SINGLE_IO);
    bufferevent_setwatermark(bev, EV_WRITE, PEER_LOW_WATER, 0);
    bufferevent_setcb(bev, opts.raw ? on_read_raw : on_read_framed, on_write,
                      on_event, NULL);
    bufferevent_enable(bev, EV_READ);
}

static void on_accept_error(struct evconnlistener *lev, void *arg)
{
    (void)lev, (void)arg;
    /* EMFILE and friends: log and keep going; the listener retries. */
    fprintf(stderr, "%s: accept: %s\n", opts.prog, strerror(errno));
}

int main(int argc, char **argv)
{
    peer_parse_args(&opts, argc, argv);
    int fd = peer_listen(&opts);

    struct event_config *cfg = event_config_new();
    event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
    struct event_base *base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (base == NULL) {
        fprintf(stderr, "%s: event_base_new failed\n", opts.prog);
        return 1;
    }
    struct evconnlistener *lev = evconnlistener_new(base, on_accept, NULL,
                                                    LEV_OPT_CLOSE_ON_FREE, 0, fd);
    if (lev == NULL) {
        fprintf(stderr, "%s: evconnlistener_new failed\n", opts.prog);
        return 1;
    }
    evconnlistener_set_error_cb(lev, on_accept_error);
    event_base_dispatch(base);
    evconnlistener_free(lev);
    event_base_free(base);
    return 0;
}
