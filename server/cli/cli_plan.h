/* cli_plan.h — `kplane plan`: plans and analyses from the command line, without a server. */
#ifndef KP_CLI_PLAN_H
#define KP_CLI_PLAN_H

/*
 * Runs `kplane plan`. @p argv holds the arguments after the program name; a leading
 * "plan" (the sub-command itself) is skipped, so both `argv + 1` and `argv + 2` of
 * main() work.
 *   kplane plan --topic [CLUSTER/]NAME:PARTITIONS ... --parallelism T
 *               [--strategy S] [--format text|json] [--rebalance] [--previous PLAN.json]
 *   kplane plan --batch   (JSON lines on stdin, one answer line each on stdout)
 * @returns the exit code: 0 ok, 1 failure (out of memory, unreadable file), 2 usage.
 */
int kp_cli_plan_main(int argc, char **argv);

#endif /* KP_CLI_PLAN_H */
