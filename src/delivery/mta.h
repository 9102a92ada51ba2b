/*
 * mta: the delivery side, as main.c sees it. It takes the queue's entries
 * (through the scheduler); each due entry becomes an attempt (attempt.c:
 * send_email hook, route, MX walk over pooled connections, outcomes),
 * whose verdict (verdict.c: delivered / deferred / bounce hooks, DSN,
 * records) is made durable before the next attempt. Mail generated
 * inside Outpost (DSNs, plugins' op_send_email) is queued by inject.c.
 */
#ifndef OUTPOST_MTA_H
#define OUTPOST_MTA_H

struct attempt_env;
struct config;
struct event_base;
struct queue;
struct mta;
struct shaping;
struct vmta;

/* Creates the delivery side and takes the queue's entries, shaping mail
 * per destination with sh (a reference is taken; config/shaping.ini and
 * shaping_rules). NULL with *err (malloc'd) when net-utils.ini or tls.ini
 * [outbound] is bad (*bad_config 1: a configuration error, exit 78), or
 * the resolver cannot start (*bad_config 0). */
struct mta	*mta_new(struct event_base *, struct config *,
		    struct shaping *sh, struct queue *, char **err,
		    int *bad_config);
/* Start-up: whether config_dir's cluster.ini is good (0), else -1 with
 * *err (delivery/cluster_conf.h). */
int		 mta_check_config(const char *config_dir, char **err);
/* Cancels attempts in flight (their entries stay queued as they are on
 * disk) and frees everything. */
void		 mta_free(struct mta *);
/* A reloaded configuration (outbound.ini: disabled, concurrency_max,
 * intervals...). */
void		 mta_configure(struct mta *, struct config *);
/* A reloaded shaping configuration (limits apply at each destination's
 * next use; its running state is kept). */
void		 mta_set_shaping(struct mta *, struct shaping *);
/* Source-IP pools (pools.ini; a reference is taken; NULL: none) for
 * attempts that route from now on. */
void		 mta_set_vmta(struct mta *, struct vmta *);
/* Why delivery may be held (bits; main.c wires the sources). */
enum mta_hold {
	MTA_HOLD_RECORDS_SPACE = 1 << 0,	/* records_min_free (records/space.c) */
	MTA_HOLD_RECORDS_BACKLOG = 1 << 1	/* records_backlog_max
						 * (records/backlog.c) */
};
/* Holds (on) or releases delivery for a reason: while any reason holds,
 * no attempt starts (entries stay queued, attempts in flight finish);
 * the last release starts what is due. */
void		 mta_hold(struct mta *, unsigned reason, int on);
/* SIGHUP: every deferred mail is tried now, those in flight as soon as
 * their attempt ends. */
void		 mta_flush(struct mta *);
/* Shutdown: start nothing new; done runs once no attempt is in flight. */
void		 mta_drain(struct mta *, void (*done)(void *), void *arg);

/* For mta_admin.c: what the attempts share, and whether delivery is
 * shutting down. */
struct attempt_env *mta_env(struct mta *);
int		 mta_draining(const struct mta *);

#endif
