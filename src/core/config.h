/*
 * config: everything read from ROOT/config, validated, as one immutable,
 * reference-counted struct. Roles keep a reference to the generation they
 * started with; a reload builds a new generation that shares the parts
 * read only at start-up (core) and replaces the reloadable ones (log
 * settings, outbound.ini), then swaps it in whole.
 */
#ifndef OUTPOST_CONFIG_H
#define OUTPOST_CONFIG_H

#include <stddef.h>

#include "core/log.h"
#include "core/space.h"

struct ini;

enum inet_prefer { INET_PREFER_DEFAULT = 0, INET_PREFER_V4, INET_PREFER_V6 };

/* Outbound SMTP deadlines in seconds, each for a whole reply (RFC 5321
 * §4.5.3.2): outbound.ini connect_timeout and timeout_<stage>; the
 * client's own defaults (in parentheses) stand for a 0. */
struct smtp_timeouts {
	double	 connect;	/* the TCP connect (30) */
	double	 greeting;	/* the 220 greeting (300) */
	double	 ehlo;		/* the reply to EHLO, HELO or LHLO (300) */
	double	 starttls;	/* the reply to STARTTLS, then the TLS
				 * handshake (300) */
	double	 auth;		/* each reply of the AUTH exchange (300) */
	double	 rset;		/* the reply to RSET on a reused connection
				 * (20) */
	double	 mail;		/* the reply to MAIL (300) */
	double	 rcpt;		/* each reply to RCPT (300) */
	double	 data;		/* the reply to DATA (120) */
	double	 data_block;	/* each block of the message to be taken by
				 * the server (180) */
	double	 dot;		/* the reply to the final dot, from when it
				 * was handed over (600) */
	double	 quit;		/* the answer to QUIT on a closing
				 * connection (5) */
};

struct listen_addr {
	char	*host;		/* numeric, without brackets */
	char	*port;
};

/* Read once at start-up. */
struct config_core {
	unsigned		 refs;
	char			*root;
	char			*config_dir;
	char			*queue_dir;
	char			*me;
	char		       **plugins;	/* NULL-terminated */
	size_t			 nplugins;
	struct listen_addr	*listen;
	size_t			 nlisten;
	unsigned		 inactivity_timeout;	/* s */
	unsigned		 force_shutdown_timeout;	/* s */
	/* connection.ini: inbound limits (0 = no limit where noted). */
	size_t			 max_bytes;		/* [max] bytes: message size */
	unsigned		 max_line_length;	/* [max] line_length: commands */
	unsigned		 max_data_line_length;	/* [max] data_line_length */
	unsigned		 max_recipients;	/* [max] recipients */
	unsigned		 max_unrecognized;	/* [max] unrecognized_commands */
	unsigned		 max_connections;	/* [max] connections */
	unsigned		 max_connections_per_ip; /* [max] connections_per_ip */
	unsigned		 max_auth_failures;	/* [max] auth_failures */
	unsigned		 auth_failure_delay;	/* [auth] failure_delay, s */
	/* connection.ini [auth]: failed AUTH per client address (IPv4, IPv6
	 * /64), across connections; 0 failures = no such limit. */
	unsigned		 auth_max_failures_per_ip; /* [auth] max_failures_per_ip */
	unsigned		 auth_failure_window;	/* [auth] failure_window, s */
	unsigned		 auth_lockout;		/* [auth] lockout, s */
	int			 smtputf8;		/* [main] smtputf8 */
	/* smtp.ini [main] user, group: who the daemon runs as once its
	 * listeners are bound (core/daemon.c); NULL when absent. */
	char			*user;
	char			*group;
	/* smtp.ini [main] pid_file (relative: under ROOT); default
	 * ROOT/outpost.pid. */
	char			*pid_file;
	/* smtp.ini [main] nodes: worker processes (core/nodes.c); 0, 1:
	 * one process. */
	unsigned		 nodes;
	/* smtp.ini [main] worker_timeout (s): a worker whose event loop
	 * has not come back for this long is killed and restarted; 0:
	 * never. */
	unsigned		 worker_timeout;
};

/* outbound.ini; reloaded while running. */
struct config_outbound {
	unsigned		 refs;
	int			 disabled;
	unsigned		 concurrency_max;
	int			 enable_tls;
	unsigned		 max_temp_failures;
	double			*intervals;	/* seconds; [i] after failure i+1 */
	size_t			 nintervals;
	int			 always_split;
	char			*received_header;	/* NULL when disabled */
	int			 local_mx_ok;
	enum inet_prefer	 inet_prefer;
	/* Free-space back-pressure: below queue_min_free (and _inodes) on
	 * the queue's file system MAIL gets 452 4.3.1; below
	 * records_min_free (and _inodes) on a record directory's, no
	 * delivery attempt starts. */
	struct space_rule	 queue_min_free;
	struct space_rule	 records_min_free;
	struct smtp_timeouts	 timeouts;	/* connect_timeout, timeout_<stage> */
	/* Bounded memory (bytes, 0 = unlimited): delivery_memory_max, the
	 * message bytes attempts in flight may hold (the scheduler starts
	 * none that would go over); records_backlog_max, the record bytes
	 * waiting for their writers past which no attempt starts (until
	 * they drain below half of it). */
	uint64_t		 delivery_memory_max;
	uint64_t		 records_backlog_max;
};

struct config_log {
	int			 level;
	enum log_format		 format;
	int			 timestamps;
};

struct config {
	unsigned		 refs;
	struct config_core	*core;
	struct config_outbound	*outbound;
	struct config_log	 log;
	/* Convenience aliases into core. */
	const char		*root;
	const char		*config_dir;
	char		       **plugins;
	size_t			 nplugins;
};

/* Files whose change triggers a reload. */
enum config_file {
	CONFIG_LOG_INI = 1 << 0,
	CONFIG_LOGLEVEL = 1 << 1,
	CONFIG_LOG_TIMESTAMPS = 1 << 2,
	CONFIG_OUTBOUND_INI = 1 << 3
};

/* The file name of a watched file (e.g. "log.ini"), or NULL. */
const char	*config_file_name(enum config_file);
/* The watched file with that name, or 0. */
enum config_file config_file_by_name(const char *);

/* Reads ROOT/config. NULL with a malloc'd one-line error (naming file,
 * key and problem) on a bad value or an unreadable file. */
struct config	*config_load(const char *root, char **err);
/* A new generation: `changed` files re-read over cur, as Haraka's
 * watchers do (the most recently edited of log.ini/loglevel wins). */
struct config	*config_reload(const struct config *cur, unsigned changed,
		    char **err);
struct config	*config_ref(struct config *);
void		 config_unref(struct config *);
/* Pushes the log settings into the logger, logging what changed. */
void		 config_apply_log(const struct config *,
		    const struct config *prev);
/* config_dir's file name, as an ini (a missing one is empty) or a flat
 * file's value; on a read error NULL, with the first error in *err. */
struct ini;
struct ini	*config_read_ini(const char *dir, const char *name, char **err);
char		*config_read_flat(const char *dir, const char *name, char **err);
/* config_log.c: re-reads the `changed` log files (CONFIG_LOG_INI,
 * CONFIG_LOGLEVEL, CONFIG_LOG_TIMESTAMPS) of config_dir into *lg; an
 * unreadable file is the first error in *err. */
void		 config_log_load(const char *config_dir, struct config_log *lg,
		    unsigned changed, char **err);

/*
 * temp_fail_intervals: parses spec into *out (malloc'd seconds). On a bad
 * value logs Haraka's ERROR and WARN lines and installs the default
 * schedule derived from max_temp_failures. Never fails.
 */
void		 config_temp_fail_intervals(const char *spec,
		    unsigned max_temp_failures, double **out, size_t *n);
/* The default schedule: 2^(i+5) s for i = 1 .. max_temp_failures-1. */
void		 config_default_intervals(unsigned max_temp_failures,
		    double **out, size_t *n);

#endif
