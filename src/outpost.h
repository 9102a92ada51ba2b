/*
 * The daemon's top layer, the files at src/: struct outpost, the running
 * daemon's state (the event base, the configuration generation, every
 * role), and what those files give each other. main.c parses the command
 * line and runs the start-up sequence; root.c reads ROOT (-i, --qlist,
 * --qstat); start.c has the steps as root and the drop; reload.c the
 * signals and configuration reloads; shutdown.c the drain and teardown.
 */
#ifndef OUTPOST_MAIN_H
#define OUTPOST_MAIN_H

#include "core/daemon.h"

/* sysexits(3) */
#define EXIT_USAGE	64
#define EXIT_NOINPUT	66
#define EXIT_CANTCREAT	73
#define EXIT_TEMPFAIL	75
#define EXIT_CONFIG	78

/* The running daemon: one, in run()'s frame, handed to every callback. */
struct outpost {
	struct event_base	*base;
	struct config		*cfg;
	struct event		*signals[5];
	int			 inotify_fd;
	struct event		*inotify_ev;
	struct event		*reload_timer;
	unsigned		 pending;	/* enum config_file bits */
	struct shaping		*shaping;	/* shaping.ini, shaping_rules */
	int			 shaping_pending;	/* one of them changed */
	struct vmta		*vmta;		/* pools.ini */
	int			 vmta_pending;	/* it changed */
	int			 dkim_pending;	/* dkim.ini changed */
	struct event		*force_timer;
	struct event		*beat_timer;	/* a worker's heartbeat */
	int			 stopping;
	struct queue		*queue;
	struct smtp_server	*server;
	struct admin		*admin;		/* http.ini; NULL: none */
	struct admin_routes	*routes;	/* its modules */
	struct mta		*mta;
	struct records_space	*rspace;	/* records_min_free */
	struct feedback		*fb;		/* feedback.ini */
	struct daemon_ids	 ids;		/* smtp.ini user, group */
	int			 lock_fd;	/* the queue directory's lock */
	char			*pid_file;	/* written: removed at exit */
};

/* root.c */
int	 root_open(const char *root, struct config **cfg);
int	 root_queue_report(const char *root, int list);
int	 root_init(const char *root);

/* start.c */
int	 start_daemon(struct outpost *op);
int	 start_watch_space(struct outpost *op);

/* reload.c */
void	 reload_watch_signals(struct outpost *op);
void	 reload_watch_config(struct outpost *op);
char	*reload_admin(void *arg);	/* arg: the struct outpost */

/* shutdown.c */
void	 shutdown_begin(struct outpost *op, const char *why);
void	 shutdown_teardown(struct outpost *op);

#endif
