/*
 * fbconf (private to feedback/): config/feedback.ini and its secret file,
 * read once at start-up.
 */
#ifndef OUTPOST_FEEDBACK_FBCONF_H
#define OUTPOST_FEEDBACK_FBCONF_H

#include <stddef.h>

#include "core/verp.h"

struct fbconf {
	char		*bounce_domain;		/* "" when off */
	char		**domains;		/* received as feedback, lower
						 * case: the bounce domain first */
	size_t		 ndomains;
	char		*prefix;
	unsigned char	 key[VERP_KEY_MAX];
	size_t		 keylen;
	int		 verp;			/* 0 off, 1 all, 2 domains */
	char		**sender_domains;
	size_t		 nsender_domains;
	char		*spool_dir;		/* this process's */
	char		*spool_base;		/* every process's under it */
	char		*quarantine_dir;
	int		 on_main_listener;
};

/* 0 with c filled (c->ndomains 0: feedback is off), or -1 with *err. */
int	 fbconf_load(const char *config_dir, struct fbconf *c, char **err);
void	 fbconf_free(struct fbconf *);
/* The VERP setting c asks for (NULL: no VERP). */
struct verp_conf *fbconf_verp(const struct fbconf *c);
int	 fbconf_is_domain(const struct fbconf *c, const char *domain);

#endif
