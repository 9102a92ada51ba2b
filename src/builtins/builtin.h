/* builtin: the plugins compiled into Outpost (table in builtin.c). */
#ifndef OUTPOST_BUILTIN_H
#define OUTPOST_BUILTIN_H

#include "outpost/plugin.h"
#include "plugins/plugin.h"	/* struct builtin_plugin */
#include "records/record.h"	/* outbound_logger, accounting_files */

extern const struct op_plugin relay_plugin;
extern const struct op_plugin auth_flat_file_plugin;
extern const struct op_plugin tls_plugin;
extern const struct op_plugin smtp_forward_plugin;
extern const struct op_plugin mail_from_is_resolvable_plugin;
extern const struct op_plugin rcpt_to_in_host_list_plugin;

/* Every built-in, by config/plugins name: the table main hands to
 * plugins_load(). NULL-terminated. */
extern const struct builtin_plugin builtin_plugins[];

#endif
