/* builtin: the plugins compiled into Outpost (table in builtin.c). */
#ifndef OUTPOST_BUILTIN_H
#define OUTPOST_BUILTIN_H

#include <stdio.h>

#include "outpost/plugin.h"
#include "plugins/plugin.h"	/* struct builtin_plugin */
#include "records/record.h"	/* outbound_logger, accounting_files */

extern const struct op_plugin relay_plugin;
extern const struct op_plugin auth_flat_file_plugin;
extern const struct op_plugin tls_plugin;
extern const struct op_plugin smtp_forward_plugin;
extern const struct op_plugin mail_from_is_resolvable_plugin;
extern const struct op_plugin rcpt_to_in_host_list_plugin;
extern const struct op_plugin dkim_plugin;
extern const struct op_plugin amqp_events_plugin;
/* dkim.ini and config/dkim/ again (SIGHUP, a change): 0, or -1 (logged;
 * the running keys kept). Nothing when the plugin is not listed. */
int dkim_plugin_reload(void);
/* outpost -c ROOT --dkim-keygen DOMAIN SELECTOR (args, nargs) [--type
 * rsa|ed25519] [--bits N]: writes the key, prints the TXT record; the
 * exit status. */
int dkim_keygen_command(const char *root, char **args, int nargs,
    const char *type, const char *bits);

/* The suppression list (builtins/suppression.c): suppression.ini read,
 * the store opened and its observer added, whatever config/plugins says
 * (after plugins_load). 0, or -1 with *err (exit 78). */
struct config;
int suppression_start(const struct config *, char **err);
/* --qstat: the suppression list's counts. */
void suppression_report(FILE *out, const struct config *);

/* Every built-in, by config/plugins name: the table main hands to
 * plugins_load(). NULL-terminated. */
extern const struct builtin_plugin builtin_plugins[];

#endif
