/* Subcommands of the endpointd binary; one file per subcommand family.
 * Each returns the process exit status. */
#ifndef EP_CMD_CMDS_H
#define EP_CMD_CMDS_H

int cmd_serve(int argc, char **argv);   /* cmd_serve.c: the daemon */
int cmd_runtime(int argc, char **argv); /* cmd_runtime.c: one replica (inference engine) */
int cmd_admin(int argc, char **argv);   /* cmd_admin.c: user/org/token/whoami over the API */
int cmd_client(int argc, char **argv);  /* cmd_client.c: create/ls/get/wait/pause/... */
int cmd_infer(int argc, char **argv);   /* cmd_infer.c: generate/chat/embed/classify */
int cmd_model(int argc, char **argv);   /* cmd_model.c: model pull|ls|rm on this machine */

#endif
