/*
 * shaping: per-destination limits (config/shaping.ini) and the rules that
 * turn a destination's replies into backoff, suspension or bounces
 * (config/shaping_rules, core/shaping_rules.h), loaded into one immutable,
 * reference-counted struct. The delivery side keeps the running state
 * (delivery/shaper.h).
 *
 * shaping.ini (Haraka-style ini):
 *   [main]              the defaults of every destination
 *   [gmail.com]         one recipient domain (its own budget)
 *   [mx:*.google.com]   every domain one of whose MX hosts matches
 *                       (lib/netmatch names: "host.name", "*.suffix";
 *                       several separated by commas): ONE budget shared
 *                       by all of them, keyed by the section name
 * A section inherits from [main] every key it does not set. Keys:
 *   max_connections              concurrent connections (0: no limit)
 *   max_messages_per_connection  (0: no limit)
 *   max_recipients_per_message   (0: no limit)
 *   max_message_rate             N/s, N/m, N/h or N/d; empty: no limit
 *   max_connection_rate          the same, for new connections
 *   connect_timeout              seconds (90, 90s, 10m); 0: outbound.ini's
 *   idle_timeout                 seconds an idle connection is kept; 0:
 *                                the pool's own
 *   backoff_connections          the connection limit in backoff (>= 1)
 *   backoff_interval             seconds between connections in backoff
 *                                (0: none)
 *   backoff_recover              clean deliveries per recovery step
 * An unknown section or key, or a bad value, is an error naming the file
 * and line; both files are optional.
 */
#ifndef OUTPOST_SHAPING_H
#define OUTPOST_SHAPING_H

#include <stddef.h>

#include "core/shaping_rules.h"
#include "lib/rate.h"

/* A destination key: a domain, or "mx:" and a section's patterns. */
#define SHAPING_KEY_MAX			264

/* Postfix's default_destination_concurrency_limit. */
#define SHAPING_DEFAULT_CONNECTIONS	20
#define SHAPING_DEFAULT_BACKOFF_INTERVAL 60	/* s */
#define SHAPING_DEFAULT_BACKOFF_RECOVER	20	/* deliveries */

struct shaping_limits {
	unsigned	 max_connections;		/* 0: no limit */
	unsigned	 max_messages_per_connection;	/* 0: no limit */
	unsigned	 max_recipients_per_message;	/* 0: no limit */
	struct rate	 max_message_rate;		/* n 0: no limit */
	struct rate	 max_connection_rate;		/* n 0: no limit */
	unsigned	 connect_timeout;		/* s; 0: outbound.ini's */
	unsigned	 idle_timeout;			/* s; 0: the pool's */
	unsigned	 backoff_connections;		/* >= 1 */
	unsigned	 backoff_interval;		/* s; 0: no spacing */
	unsigned	 backoff_recover;		/* >= 1 */
};

struct shaping;

/*
 * Reads config_dir/shaping.ini and config_dir/shaping_rules; an absent
 * file gives the defaults (the built-in rules for shaping_rules). NULL
 * with a malloc'd one-line *err ("config/shaping_rules:3: ...") on a bad
 * line or value, or a file that cannot be read.
 */
struct shaping	*shaping_load(const char *config_dir, char **err);
/* The same from text (NULL: the file is absent); for tests. */
struct shaping	*shaping_parse(const char *ini_text, const char *rules_text,
		    char **err);
struct shaping	*shaping_ref(struct shaping *);
void		 shaping_unref(struct shaping *);

/* [main]: the limits of a destination no section names. */
const struct shaping_limits *shaping_defaults(const struct shaping *);

/*
 * The limits for mail to domain whose MX hosts are mx[0..nmx) (nmx may
 * be 0), and its destination key in key: a [domain] section (the key is
 * the domain, lowercase, without a trailing dot); else the first [mx:...]
 * section, in file order, matching any of the hosts (the key is the
 * section's name: all those domains share it); else [main], keyed by the
 * domain. Valid while the struct shaping lives.
 */
const struct shaping_limits *shaping_lookup(const struct shaping *,
		    const char *domain, const char *const *mx, size_t nmx,
		    char key[SHAPING_KEY_MAX]);

/* The rule a failure's reply matches (shaping_rules_match). */
struct shaping_hit shaping_match(const struct shaping *, int code,
		    const char *enhanced, const char *text, int at_greeting);

/*
 * One shaping.ini key of lim set from value as the file reads it (an
 * administrator's change): 0 with its bit (1 << its index, see
 * shaping_limit_name) added to *mask, or -1 with a malloc'd one-line *why
 * naming the key (an unknown key, a bad value).
 */
int		 shaping_limit_set(struct shaping_limits *, unsigned *mask,
		    const char *key, const char *value, char **why);
/* The limits of src whose bits are in mask, copied over dst's. */
void		 shaping_limits_over(struct shaping_limits *dst,
		    const struct shaping_limits *src, unsigned mask);
/* The name of the key of bit i ("max_connections"), or NULL past them. */
const char	*shaping_limit_name(unsigned i);

#endif
