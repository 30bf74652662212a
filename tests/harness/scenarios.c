/* scenarios.c - the scenario table: name, function, the features a column
 * needs for the scenario to pass, and flags. Order = order of the matrix.
 */
#include "scenarios.h"

const struct scenario scenarios[] = {
    { "startup",              sc_startup,              0,          0 },
    { "bad_args",             sc_bad_args,             0,          0 },
    { "port_in_use",          sc_port_in_use,          0,          0 },
    { "help",                 sc_help,                 0,          0 },
    { "echo",                 sc_echo,                 0,          0 },
    { "sequential_clients",   sc_sequential_clients,   0,          0 },
    { "concurrent_50",        sc_concurrent_50,        F_MULTI,    0 },
    { "payload_8mib",         sc_payload_8mib,         0,          0 },
    { "half_close",           sc_half_close,           0,          0 },
    { "reset_100",            sc_reset_100,            0,          0 },
    { "connections_2000",     sc_connections_2000,     F_MULTI,    0 },
    { "slow_reader",          sc_slow_reader,          0,          0 },
    { "split_header",         sc_split_header,         F_FRAMED,   S_FRAMED },
    { "many_in_one_write",    sc_many_in_one_write,    F_FRAMED,   S_FRAMED },
    { "empty_message",        sc_empty_message,        F_FRAMED,   S_FRAMED },
    { "message_1mib",         sc_message_1mib,         F_FRAMED,   S_FRAMED },
    { "pipeline_1000",        sc_pipeline_1000,        F_FRAMED,   S_FRAMED },
    { "oversize_header",      sc_oversize_header,      F_FRAMED,   S_FRAMED },
    { "garbage_1mib",         sc_garbage_1mib,         F_FRAMED,   S_FRAMED },
    { "half_close_pipelined", sc_half_close_pipelined, F_FRAMED,   S_FRAMED },
    { "oversize_flush",       sc_oversize_flush,       F_FRAMED,   S_FRAMED },
    { "fair_neighbour",       sc_fair_neighbour,       F_FRAMED,   S_FRAMED },
    { "flood_unread",         sc_flood_unread,         F_FRAMED,   S_FRAMED },
    { "budget_partial_16mib", sc_budget_partial_16mib, F_BUDGET,   S_FRAMED },
    { "memory_returns",       sc_memory_returns,       F_BUDGET,   S_FRAMED | S_NORMAL_ONLY },
    { "client_lines_10000",   sc_client_lines_10000,   0,          0 },
    { "client_refused",       sc_client_refused,       0,          0 },
    { "client_server_closes", sc_client_server_closes, 0,          S_ENDS_SERVER },
    { "client_retry",         sc_client_retry,         F_CLIENT,   0 },
    { "client_pipelines",     sc_client_pipelines,     F_CLIENT,   S_FRAMED },
    { "threads_t2w2",         sc_threads_t2w2,         F_THREADS,  0 },
    { "threads_t2w0",         sc_threads_t2w0,         F_THREADS,  0 },
    { "idle_reap",            sc_idle_reap,            F_IDLE,     0 },
    { "slow_reader_not_idle", sc_slow_reader_not_idle, F_IDLE,     S_FRAMED },
    { "draining_reader_not_idle", sc_draining_reader_not_idle, F_IDLE, S_FRAMED },
    { "trickle_sender",       sc_trickle_sender,       F_IDLE,     S_FRAMED },
    { "sigterm_clean",        sc_sigterm_clean,        F_SHUTDOWN, S_ENDS_SERVER },
    { "emfile",               sc_emfile,               F_EMFILE,   0 },
    { "valgrind_shutdown",    sc_valgrind_shutdown,    F_SHUTDOWN, S_ENDS_SERVER | S_NORMAL_ONLY },
    { "chaos",                sc_chaos,                0,          0 },
};

const int nscenarios = (int)(sizeof(scenarios) / sizeof(scenarios[0]));
