/*
 * hooks (private to plugins/; others include plugins/plugin.h): one call
 * of a plugin's hook function, as the runner (hooks.c) makes it and the
 * ABI accessors (abi.c) read it, and the runner's teardown for load.c.
 */
#ifndef OUTPOST_PLUGINS_HOOKS_H
#define OUTPOST_PLUGINS_HOOKS_H

#include <stddef.h>

#include "plugins/plugin.h"

struct hook_run;
struct obs_run;

/* Lives until its plugin answers, even past a timeout (an orphan). */
struct op_call {
	struct hook_run	*run;		/* NULL once orphaned by a timeout */
	struct obs_run	*obs;		/* an observer's call */
	size_t		 obs_idx;
	enum op_hook	 hook;
	const void	*args;
	int		 in_call;
	int		 answered;
	int		 code;
	char		*msg;
	struct op_call	*next_orphan;
};

/* Events whose observers have not answered (a forced stop): their callers
 * are gone. Their calls become orphans, so that an answer from a plugin's
 * shutdown() only frees its call. */
void		 hooks_abandon(void);
/* Frees the calls orphaned by a timeout whose plugin never answered. */
void		 hooks_free_orphans(void);

#endif
