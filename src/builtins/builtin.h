/* builtin: the plugins compiled into Outpost (table in builtin.c). */
#ifndef OUTPOST_BUILTIN_H
#define OUTPOST_BUILTIN_H

#include "outpost/plugin.h"
#include "records/record.h"	/* outbound_logger, accounting_files */

extern const struct op_plugin relay_plugin;
extern const struct op_plugin auth_flat_file_plugin;
extern const struct op_plugin tls_plugin;
extern const struct op_plugin smtp_forward_plugin;

#endif
