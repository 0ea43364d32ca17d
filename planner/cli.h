/*
 * cli.h: `dlc plan-buffers`, the planner on a bare allocation problem
 * (spec section 5):
 *
 *   dlc plan-buffers IN.csv [-o OUT.csv] [--alignment N] [--time-limit S]
 *                   [--greedy] [--svg FILE]
 *
 * It reads the buffers (csv.h), places them (plan_place, or the greedy-by-size
 * baseline with --greedy), checks the placement with plan_verify, writes the
 * solution CSV (when -o is given) and the picture (--svg), each through a
 * temporary file renamed into place, and prints peak, lower bound, gap,
 * method and time on stdout. --alignment defaults to 1 (sizes are bytes);
 * --time-limit S (default 0: none) caps the search beyond the heuristics,
 * which is otherwise bounded by its own work budget.
 */
#ifndef PLAN_CLI_H
#define PLAN_CLI_H

/* argv[0] is the command's name ("plan-buffers"); the options follow.
 * Returns the exit status: 0 ok, 1 on any error (the reason on stderr). */
int plan_buffers_main(int argc, char **argv);

#endif
