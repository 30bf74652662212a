/* server.c - start, watch and stop one server process.
 *
 * The child gets stdin from /dev/null, stdout on a pipe (the harness reads
 * the start-up line from it) and stderr in a file that the harness scans
 * for sanitizer reports afterwards. PR_SET_PDEATHSIG makes sure no server
 * outlives the test process that started it, even when check kills it.
 */
#include "server.h"

#include "harness.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_ARGV 48

static const char *const valgrind_argv[] = {
    "valgrind", "--leak-check=full", "--error-exitcode=99",
    "--errors-for-leak-kinds=definite,indirect,possible", NULL,
};

/* argv = [valgrind ...] SERVER IP PORT [column args] [scenario args] */
static void build_argv(const char **argv, const struct spawn *sp)
{
    int n = 0;
    if (sp->valgrind)
        for (int i = 0; valgrind_argv[i]; i++)
            argv[n++] = valgrind_argv[i];
    argv[n++] = cfg.server;
    argv[n++] = sp->ip ? sp->ip : "127.0.0.1";
    if (!sp->no_port)
        argv[n++] = sp->port ? sp->port : "0";
    for (int i = 0; i < cfg.nargs && n < MAX_ARGV - 1; i++)
        argv[n++] = cfg.args[i];
    for (int i = 0; sp->args && sp->args[i] && n < MAX_ARGV - 1; i++)
        argv[n++] = sp->args[i];
    argv[n] = NULL;
}

/* In the child, between fork() and exec(). Never returns. */
static void child(const char **argv, const struct spawn *sp, int out_w,
                  int err_fd, pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);                   /* the parent died before prctl */

    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(out_w, 1) < 0 ||
        dup2(err_fd, 2) < 0)
        _exit(127);
    close_range(3, ~0U, 0);

    /* Hand the server default signal handling: the harness ignores SIGPIPE,
     * and a server must survive it on its own. */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);

    if (sp->nofile > 0) {
        struct rlimit rl = { (rlim_t)sp->nofile, (rlim_t)sp->nofile };
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    execvp(argv[0], (char *const *)argv);
    dprintf(2, "harness: exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

int server_spawn(struct server *s, const struct spawn *sp, const char *err_path)
{
    const char *argv[MAX_ARGV];
    int pipefd[2];

    memset(s, 0, sizeof(*s));
    s->out = -1;
    snprintf(s->err_path, sizeof(s->err_path), "%s", err_path);
    build_argv(argv, sp);

    int err_fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (err_fd < 0)
        return -1;
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        close(err_fd);
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0)
        child(argv, sp, pipefd[1], err_fd, parent);
    close(pipefd[1]);
    close(err_fd);
    if (pid < 0) {
        close(pipefd[0]);
        return -1;
    }
    s->pid = pid;
    s->out = pipefd[0];
    return 0;
}

/* "listening on 127.0.0.1:PORT", PORT in 1..65535 without leading zeros. */
static int parse_line(const char *line, uint16_t *port)
{
    const char *prefix = "listening on 127.0.0.1:";
    size_t n = strlen(prefix);
    if (strncmp(line, prefix, n) != 0)
        return -1;
    const char *p = line + n;
    if (p[0] < '1' || p[0] > '9' || strlen(p) > 5)
        return -1;
    long v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    if (v > 65535)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

int server_read_line(struct server *s, int timeout_ms, char *err, size_t n)
{
    int64_t deadline = now_ms() + timeout_ms;
    char buf[512];
    size_t len = 0;

    for (;;) {
        char *nl = memchr(buf, '\n', len);
        if (nl != NULL) {
            size_t linelen = (size_t)(nl - buf);
            if (linelen >= sizeof(s->line)) {
                snprintf(err, n, "start-up line too long (%zu bytes)", linelen);
                return -1;
            }
            memcpy(s->line, buf, linelen);
            s->line[linelen] = '\0';
            s->nextra = len - linelen - 1;
            memcpy(s->extra, nl + 1, s->nextra);
            if (parse_line(s->line, &s->port) < 0) {
                snprintf(err, n, "bad start-up line '%s'", s->line);
                return -1;
            }
            s->started = true;
            return 0;
        }
        if (len == sizeof(buf)) {
            snprintf(err, n, "no newline in the first %zu bytes of stdout", len);
            return -1;
        }
        struct pollfd pfd = { s->out, POLLIN, 0 };
        int left = ms_left(deadline);
        int rc = poll(&pfd, 1, left);
        if (rc == 0 || left == 0) {
            snprintf(err, n, "no start-up line within %d ms", timeout_ms);
            return -1;
        }
        if (rc < 0 && errno == EINTR)
            continue;
        ssize_t got = read(s->out, buf + len, sizeof(buf) - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            char st[96] = "still running";
            if (server_wait(s, ms_left(deadline) + 1000))
                status_str(s->status, st, sizeof(st));
            char *text = slurp(s->err_path, NULL);
            char line1[160];
            first_line(text ? text : "", line1, sizeof(line1));
            free(text);
            snprintf(err, n, "server closed stdout before the start-up line "
                     "(%s; stderr: '%s')", st, line1);
            return -1;
        }
        len += (size_t)got;
    }
}

int server_drain_stdout(struct server *s, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    while (s->out >= 0) {
        struct pollfd pfd = { s->out, POLLIN, 0 };
        int rc = poll(&pfd, 1, ms_left(deadline));
        if (rc == 0)
            return 0;
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            return 0;
        }
        char buf[256];
        ssize_t got = read(s->out, buf, sizeof(buf));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return 1;
        size_t room = sizeof(s->extra) - s->nextra;
        size_t take = (size_t)got < room ? (size_t)got : room;
        memcpy(s->extra + s->nextra, buf, take);
        s->nextra += take;
    }
    return 1;
}

int server_wait(struct server *s, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    while (!s->reaped) {
        pid_t rc = waitpid(s->pid, &s->status, WNOHANG);
        if (rc == s->pid || (rc < 0 && errno == ECHILD)) {
            s->reaped = true;
            break;
        }
        if (ms_left(deadline) == 0)
            return 0;
        poll(NULL, 0, 5);             /* a short step while awaiting exit */
    }
    return 1;
}

bool server_alive(struct server *s)
{
    return s->pid > 0 && !server_wait(s, 0);
}

void server_signal(struct server *s, int sig)
{
    if (s->pid > 0 && !s->reaped)
        kill(s->pid, sig);
}

void server_reap(struct server *s)
{
    if (s->pid > 0 && !s->reaped) {
        kill(s->pid, SIGKILL);
        server_wait(s, 10000);
    }
    if (s->out >= 0) {
        close(s->out);
        s->out = -1;
    }
}

long proc_status_kb(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    long kb = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            kb = strtol(line + n + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

long proc_unread_bytes(pid_t pid, uint16_t port)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/net/tcp", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    long total = 0;
    unsigned local_port, state;
    unsigned long rx;
    /* "  sl  local_address rem_address   st tx_queue:rx_queue ..." */
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, " %*d: %*x:%x %*x:%*x %x %*x:%lx", &local_port, &state, &rx) == 3 &&
            local_port == port && state == 1)         /* TCP_ESTABLISHED */
            total += (long)rx;
    }
    fclose(f);
    return total;
}

double proc_cpu_seconds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    char *text = slurp(path, NULL);
    if (text == NULL)
        return -1;
    char *p = strrchr(text, ')');     /* the command name may hold spaces */
    unsigned long utime = 0, stime = 0;
    int ok = p && sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                         &utime, &stime) == 2;
    free(text);
    if (!ok)
        return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

double proc_busy_seconds(pid_t pid)
{
    char path[300];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *dir = opendir(path);
    if (dir == NULL)
        return -1;
    double total = 0;
    int tasks = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/%d/task/%s/schedstat", (int)pid, de->d_name);
        unsigned long long run_ns, wait_ns;
        FILE *f = fopen(path, "r");
        if (f && fscanf(f, "%llu %llu", &run_ns, &wait_ns) == 2) {
            total += (double)(run_ns + wait_ns) / 1e9;
            tasks++;
        }
        if (f)
            fclose(f);
    }
    closedir(dir);
    return tasks > 0 ? total : -1;
}
