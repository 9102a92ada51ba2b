/*
 * ctl: outpostctl, the admin API's command-line client (a program of its
 * own: blocking sockets, HTTP/1.1 by hand, jansson). outpostctl.c reads
 * the options and runs a subcommand, ctl_http.c talks to the daemon,
 * ctl_show.c prints answers as tables.
 */
#ifndef OUTPOST_CTL_H
#define OUTPOST_CTL_H

#include <stddef.h>

#include <jansson.h>

#define EX_CTL_OK	0
#define EX_CTL_API	1	/* the API answered an error */
#define EX_CTL_USAGE	64
#define EX_CTL_UNAVAIL	69	/* the daemon could not be reached */

/* Where the API is: a Unix socket, or a TCP address with a token. */
struct ctl_target {
	char	*socket;	/* a path, or NULL */
	char	*host;		/* numeric address (TCP) */
	char	*port;
	char	*token;		/* NULL: none */
};

/* From ROOT/config/http.ini: its first Unix socket, else its first TCP
 * listener and token_file. 0, or -1 with a message printed. */
int	 ctl_target_from_root(struct ctl_target *, const char *root);
/* "http://127.0.0.1:8025" (or [::1]:8025): 0, or -1. */
int	 ctl_target_url(struct ctl_target *, const char *url);
/* The first line of a token file: 0, or -1 with a message printed. */
int	 ctl_read_token(struct ctl_target *, const char *path);

/*
 * One request: method, path (with its query), a JSON body or NULL. 0 with
 * the HTTP status and the body (malloc'd, NUL-terminated), or -1 when the
 * daemon could not be reached or answered no HTTP (a message printed).
 */
int	 ctl_request(const struct ctl_target *, const char *method,
	    const char *path, const char *body, int *status, char **reply);

/* Appends key=s to the query *q ("" or "?a=b"), s percent-encoded. */
void	 ctl_add_param(char **q, const char *key, const char *s);

/* The tables: what answers look like to a person. */
void	 ctl_show_status(json_t *);
void	 ctl_show_queue(json_t *);
void	 ctl_show_entries(json_t *);
void	 ctl_show_action(json_t *);
void	 ctl_show_destinations(json_t *);
void	 ctl_show_object(json_t *);
void	 ctl_show_limits(json_t *);

/* outpostctl suppression list|add|remove (ctl_suppress.c): argv[0] is
 * "suppression"; the exit status. */
int	 ctl_suppression(const struct ctl_target *, int json, int argc,
	    char **argv);

#endif
