/* gcov_flush.c - linked into the coverage builds of the steps (run-all.sh
 * passes it in LDLIBS; no step's sources change). gcov writes its .gcda
 * files only when a program exits normally, and a server before step10 dies
 * of SIGTERM. This constructor installs a SIGTERM/SIGINT handler that dumps
 * the counters and then dies of the same signal, so the server behaves as
 * before but reports its coverage. A step that handles these signals itself
 * (step10, with a signalfd) replaces the handler and exits cleanly anyway.
 */
#include <signal.h>

void __gcov_dump(void);

static void dump_and_die(int sig)
{
    __gcov_dump();
    signal(sig, SIG_DFL);
    raise(sig);                 /* delivered when the handler returns */
}

__attribute__((constructor)) static void install(void)
{
    signal(SIGTERM, dump_and_die);
    signal(SIGINT, dump_and_die);
}
