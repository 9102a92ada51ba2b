/*
 * plugin: what the rest of Outpost uses of the plugins. Plugins named in
 * config/plugins are found in the built-in table main hands over or as
 * ROOT/plugins/<name>.so and initialised in order (load.c), their hooks
 * chained (registry.c). hook_run() walks a chain with Haraka's semantics
 * and reports the chain's verdict to a completion callback, possibly after
 * the caller returned: plugins may answer asynchronously (hooks.c).
 */
#ifndef OUTPOST_PLUGIN_INTERNAL_H
#define OUTPOST_PLUGIN_INTERNAL_H

#include <stddef.h>

#include "outpost/plugin.h"

struct config;
struct event_base;

#define OP_HOOK_COUNT	(OP_HOOK_FEEDBACK + 1)

typedef void (*hook_done_fn)(void *arg, int code, const char *msg);

struct builtin_plugin;
/* Loads and initialises cfg's plugins: a name is looked up in builtins
 * (a NULL-terminated table; main passes builtins/builtin.c's), else loaded
 * as ROOT/plugins/<name>.so. On failure returns -1 and a malloc'd
 * one-line reason in *err (everything loaded is released). */
int		 plugins_load(const struct config *, struct event_base *,
		    const struct builtin_plugin *builtins, char **err);
/* Registers a plugin directly (tests, and the built-in table).
 * timeout: seconds, 0 = none. */
int		 plugins_add(const struct op_plugin *, const char *config_dir,
		    unsigned timeout, char **err);
/* Calls every shutdown(), unloads shared objects, frees the chains. */
void		 plugins_unload(void);
size_t		 plugins_count(void);
/* The event loop given to plugins_load (NULL before). */
struct event_base *plugins_event_base(void);
const char	*plugins_name(size_t i);
size_t		 hook_count(enum op_hook);

/* Runs the chain; done() gets the verdict (OP_CONT when every plugin
 * passed). args is the hook's argument block (e.g. struct op_log_record). */
void		 hook_run(enum op_hook, const void *args, hook_done_fn,
		    void *arg);

/* Calls every observer (OP_HOOK_OBSERVE) of hook at once; done() gets
 * OP_CONT once all have answered, or when the longest of their timeouts
 * passes (CRIT for each that did not answer; never when one of them has
 * no timeout). With no observer, done() runs during the call. */
void		 hook_observe(enum op_hook, const void *args, hook_done_fn,
		    void *arg);
size_t		 hook_observers(enum op_hook);

/* For an answer written into the caller's argument block (op_next_mx,
 * delivery/route.c): c's argument block while c is a call of hook whose
 * chain still waits for it; NULL when c is late, already answered, an
 * observer's, or of another hook. */
void		*hook_answer_args(struct op_call *c, enum op_hook hook);

/* Routes log records through the log hook (installs the log sink). */
void		 plugins_attach_log(void);
const char	*hook_name(enum op_hook);
const char	*code_name(int code);

/* The argument block of the transaction hooks (op_call_txn). */
struct op_txn {
	const char	 *uuid;
	const char	 *mail_from;
	const char	**rcpts;
	unsigned	  nrcpts;
	const char	 *remote_ip;
	const char	 *helo;
	const char	 *msg;
	unsigned long	  msglen;
	/* op_txn_set_note: keeps a note with the mail (NULL: none). */
	void		(*set_note)(void *, const char *key, const char *value);
	void		 *note_arg;
};

/* The argument block of the outbound hooks (op_call_outbound): what
 * plugins see, and get_mx's answer (op_next_mx, delivery/route.c, fills
 * mxs). */
struct mx;
struct outbound_call {
	struct op_outbound	 pub;
	struct mx		*mxs;
	size_t			 nmx;
};

/* A plugin compiled in: its config/plugins name, another spelling, and
 * the plugin. */
struct builtin_plugin {
	const char		*name;
	const char		*alias;
	const struct op_plugin	*plugin;
};

#endif
