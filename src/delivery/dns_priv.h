/*
 * dns_priv: what dns.c (the channel, the queries) and dns_answer.c (the
 * answers parsed into a query's result) share. Nothing else includes it.
 */
#ifndef OUTPOST_DNS_PRIV_H
#define OUTPOST_DNS_PRIV_H

#include <stddef.h>

#include <ares.h>

#include <event2/event.h>

#include "delivery/dns_types.h"

struct dns_sock {
	struct dns_sock		*next;
	struct dns		*dns;
	ares_socket_t		 fd;
	struct event		*ev;
};

#define INFLIGHT_BUCKETS	1024

/*
 * At most this many c-ares queries are sent and not yet answered; the
 * rest wait their turn in order. A burst of mail to a thousand domains
 * otherwise sends a thousand queries at once, and their answers overflow
 * the socket's receive buffer (about 400 small datagrams with Linux's
 * default rmem_max): every dropped answer costs a whole resolver timeout.
 * The receive buffer asked for is larger too, as far as rmem_max allows.
 */
#define DNS_SENT_MAX		256
#define DNS_RCVBUF		(4 << 20)

struct dns {
	struct event_base	*base;
	ares_channel		 channel;
	struct event		*timer;
	struct dns_sock		*socks;
	struct dns_query	*queries;	/* not yet answered nor cancelled */
	struct inflight		*inflight[INFLIGHT_BUCKETS];
	struct inflight		*waiting;	/* not yet sent, oldest first */
	struct inflight	       **waiting_tail;
	unsigned		 sent;		/* sent and not yet answered */
	int			 sending;
	int			 destroying;
};

/*
 * One c-ares query in flight and every lookup waiting for its answer:
 * concurrent lookups of one name and type share it, so a burst of mail to
 * one domain (or to many domains behind one MX host) asks the server once
 * instead of flooding its socket (c-ares 1.18 has no cache of its own).
 */
struct inflight {
	struct inflight		*next;		/* in its bucket */
	struct inflight		*next_waiting;	/* in dns->waiting */
	struct dns		*dns;
	struct dns_lookup	**waiters;
	size_t			 nwaiters;
	int			 type;
	char			 name[];
};

/* One c-ares lookup of a query. */
struct dns_lookup {
	struct dns_query	*q;
	size_t			 entry;		/* index into q->in */
	int			 type;		/* T_MX, T_AAAA, T_A */
	char		       **addrs;		/* answers, as text */
	size_t			 naddrs;
};

enum dns_phase { PH_MX, PH_IMPLICIT, PH_ADDRESSES, PH_TXT };

/*
 * A struct dns_query is owned by this module. It lives until both its
 * c-ares lookups have all called back (`outstanding` reaches 0) and the
 * user callback has run or been cancelled; a cancelled query only waits
 * for its lookups. User callbacks run from the query's own zero-timeout
 * event, never from inside c-ares or the call that started the lookup, so
 * a callback may start lookups, cancel others, or free the whole struct
 * dns. Only ares_query is used: no search domains, no /etc/hosts. Domains
 * are the caller's A-labels (IDNs already converted), lower-case.
 */

struct dns_query {
	struct dns_query	*prev, *next;	/* in dns->queries */
	int			 linked;
	struct dns		*dns;
	dns_answer_fn		 fn;
	void			*arg;
	struct event		*done_ev;
	enum dns_phase		 phase;
	unsigned		 outstanding;	/* c-ares lookups in flight */
	int			 launching;
	int			 cancelled;
	int			 fired;
	int			 implicit;	/* the MX lookup found no MX */
	char			*domain;
	struct dns_lookup	*lk;
	size_t			 nlk;
	struct mx		*in;		/* dns_addresses' input */
	size_t			 nin;
	enum inet_prefer	 prefer;
	struct dns_answer	 ans;
	double			 started;	/* metrics_now() */
};

/* dns_answer.c: a name as a lower-case host name without the final dot
 * (malloc'd); each answer into q's result (q->ans, or l's addresses); the
 * result of an implicit MX or of dns_addresses assembled. */
char	*dns_host_name(const char *);
void	 dns_got_mx(struct dns_query *, int status, unsigned char *abuf,
	    int alen);
void	 dns_got_txt(struct dns_query *, int status, unsigned char *abuf,
	    int alen);
void	 dns_got_addrs(struct dns_lookup *, int status, unsigned char *abuf,
	    int alen);
int	 dns_needs_lookup(const struct mx *);
void	 dns_assemble_implicit(struct dns_query *);
void	 dns_assemble_addresses(struct dns_query *);

#endif
