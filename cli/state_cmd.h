/* cli/state_cmd.h - `rwkv-lm state SUBCOMMAND ...`: make, inspect, compare
 * and edit RWKV state files (lmstate/state_file.h). Called by cli/rwkv_lm.c
 * with argv[0] = "state". Returns the process exit code (0 ok, 1 bad input
 * or I/O, 2 usage, 3 out of memory). */
#ifndef RD_STATE_CMD_H
#define RD_STATE_CMD_H

int state_cmd_main(int argc, char **argv);

#endif
