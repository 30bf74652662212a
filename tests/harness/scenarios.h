/* scenarios.h - every scenario function; the table is in scenarios.c. */
#ifndef SCENARIOS_H
#define SCENARIOS_H

#include "harness.h"

/* sc_basic.c */
int sc_startup(struct run *r);
int sc_bad_args(struct run *r);
int sc_port_in_use(struct run *r);
int sc_help(struct run *r);
int sc_echo(struct run *r);
int sc_sequential_clients(struct run *r);
int sc_concurrent_50(struct run *r);
int sc_half_close(struct run *r);

/* sc_load.c */
int sc_payload_8mib(struct run *r);
int sc_reset_100(struct run *r);
int sc_connections_2000(struct run *r);
int sc_slow_reader(struct run *r);

/* sc_framed.c */
int sc_split_header(struct run *r);
int sc_many_in_one_write(struct run *r);
int sc_empty_message(struct run *r);
int sc_message_1mib(struct run *r);
int sc_pipeline_1000(struct run *r);
int sc_oversize_header(struct run *r);
int sc_garbage_1mib(struct run *r);
int sc_half_close_pipelined(struct run *r);

/* sc_threads.c */
int sc_threads_t2w2(struct run *r);
int sc_threads_t2w0(struct run *r);

/* sc_hostile.c */
int sc_oversize_flush(struct run *r);
int sc_fair_neighbour(struct run *r);
int sc_flood_unread(struct run *r);
int sc_budget_partial_16mib(struct run *r);
int sc_memory_returns(struct run *r);

/* sc_client.c */
int sc_client_lines_10000(struct run *r);
int sc_client_refused(struct run *r);
int sc_client_server_closes(struct run *r);
int sc_client_retry(struct run *r);
int sc_client_pipelines(struct run *r);

/* sc_life.c */
int sc_idle_reap(struct run *r);
int sc_slow_reader_not_idle(struct run *r);
int sc_draining_reader_not_idle(struct run *r);
int sc_trickle_sender(struct run *r);
int sc_sigterm_clean(struct run *r);
int sc_emfile(struct run *r);
int sc_valgrind_shutdown(struct run *r);

/* sc_chaos.c */
int sc_chaos(struct run *r);
bool chaos_oversize_default(void);   /* headers over -m in the chaos mix? */

#endif
