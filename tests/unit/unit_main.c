/* unit_main.c - the main() of every unit test binary.
 *
 *   buffer-07 RESULTS.tsv
 *
 * Runs the suite from unit_suite() (defined by the test file) in check's
 * fork mode, prints check's summary, and writes one line per test to
 * RESULTS.tsv: "TCASE/TEST<TAB>PASS|FAIL<TAB>message". The names come from
 * check's log (RESULTS.tsv.log), the only place check names test functions.
 * Exits 1 if a test failed.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Suite *unit_suite(void);

/* Log lines look like "file:line:P:tcase:test:iter: message". */
static void write_results(const char *log_path, const char *tsv_path)
{
    FILE *in = fopen(log_path, "r");
    FILE *out = fopen(tsv_path, "w");
    char line[1024], tc[128], test[128], msg[800];
    char kind;
    int iter;

    while (in && out && fgets(line, sizeof(line), in)) {
        msg[0] = '\0';
        if (sscanf(line, "%*[^:]:%*d:%c:%127[^:]:%127[^:]:%d: %799[^\n]",
                   &kind, tc, test, &iter, msg) < 4)
            continue;
        fprintf(out, "%s/%s\t%s\t%s\n", tc, test, kind == 'P' ? "PASS" : "FAIL",
                kind == 'P' ? "" : msg);
    }
    if (out == NULL)
        perror(tsv_path);
    if (in)
        fclose(in);
    if (out)
        fclose(out);
}

int main(int argc, char **argv)
{
    char log_path[4096];
    SRunner *sr = srunner_create(unit_suite());

    srunner_set_fork_status(sr, CK_FORK);
    if (argc > 1) {
        snprintf(log_path, sizeof(log_path), "%s.log", argv[1]);
        srunner_set_log(sr, log_path);
    }
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);                   /* closes the log */
    if (argc > 1)
        write_results(log_path, argv[1]);
    return failed == 0 ? 0 : 1;
}
