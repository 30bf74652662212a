/* server.h - one server process under test: spawn, start-up line, signals,
 * exit, and what /proc says about it.
 */
#ifndef SERVER_H
#define SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct server {
    pid_t pid;
    int out;                  /* read end of its stdout pipe, -1 if closed */
    uint16_t port;            /* from the start-up line */
    char err_path[4096];      /* its stderr goes to this file */
    char line[128];           /* the start-up line, without '\n' */
    char extra[256];          /* stdout bytes seen after the start-up line */
    size_t nextra;
    bool started;             /* the start-up line was read */
    bool reaped;              /* waited for; status is valid */
    bool ended;               /* the scenario ended it on purpose */
    int status;
};

/* How to start it: `SERVER IP PORT [column args] [args]`. */
struct spawn {
    const char *ip;           /* NULL: 127.0.0.1 */
    const char *port;         /* NULL: 0 */
    bool no_port;             /* leave PORT out (a bad command line) */
    const char *const *args;  /* NULL-terminated scenario args, or NULL */
    int nofile;               /* RLIMIT_NOFILE of the child, 0: inherited */
    bool valgrind;            /* run it under valgrind --leak-check=full */
};

/* Forks and execs the server with stdout on a pipe and stderr in err_path.
 * Returns 0, or -1 (errno) if the fork itself failed. */
int server_spawn(struct server *s, const struct spawn *sp, const char *err_path);

/* Reads the start-up line within timeout_ms. Returns 0, or -1 with a
 * description in err (the server may have exited: see s->reaped). */
int server_read_line(struct server *s, int timeout_ms, char *err, size_t n);

/* Reads what the server writes to stdout (after the start-up line) into
 * s->extra for up to timeout_ms or until EOF. Returns 1 at EOF, else 0. */
int server_drain_stdout(struct server *s, int timeout_ms);

/* Waits up to timeout_ms for the server to exit. Returns 1 if it has
 * (s->status set), 0 if it still runs. */
int server_wait(struct server *s, int timeout_ms);

/* Is it still running? (Reaps it if it has exited.) */
bool server_alive(struct server *s);

void server_signal(struct server *s, int sig);

/* Kills (if needed) and reaps it, and closes the pipe. */
void server_reap(struct server *s);

/* A "Field:  N kB" line of /proc/PID/status, in kB; -1 if unreadable. */
long proc_status_kb(pid_t pid, const char *field);

/* Bytes that have arrived on the established connections to local port
 * `port` and that no one has read yet (the rx_queue column of
 * /proc/PID/net/tcp, connections not yet accepted included); -1 if
 * unreadable. 0 means the server has read all that was sent to it. */
long proc_unread_bytes(pid_t pid, uint16_t port);

/* utime + stime of /proc/PID/stat in seconds; -1 if unreadable. */
double proc_cpu_seconds(pid_t pid);

/* Seconds its threads spent running or waiting to run (/proc/PID/task/
 * *\/schedstat): unlike CPU time, a spinning process accumulates a full
 * second per second even when other processes compete for the cores.
 * -1 if unreadable. */
double proc_busy_seconds(pid_t pid);

#endif
