/*  fk_agent - the long-running node: reads its settings, opens the store,
    loads local services, serves HTTP, and stops cleanly on a signal. */

#ifndef FK_AGENT_H_INCLUDED
#define FK_AGENT_H_INCLUDED

/*  Run "fakts-node agent" with the arguments after the word "agent"
    (argv[0] is "agent"). Blocks until SIGINT or SIGTERM. Returns a process
    exit status: 0 after a clean stop, EX_USAGE (64) for bad flags,
    EX_CONFIG (78) for a bad config file or data dir, 1 otherwise. */
int fk_agent_main(int argc, char **argv);

#endif
