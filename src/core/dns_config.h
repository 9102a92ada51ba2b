/*
 * dns_config: net-utils.ini [dns] — the resolver's servers, timeout and
 * tries, read into plain values. The resolver itself is delivery/dns.c,
 * which takes a struct dns_config; nothing here knows it.
 */
#ifndef OUTPOST_DNS_CONFIG_H
#define OUTPOST_DNS_CONFIG_H

struct dns_config {
	char		**servers;	/* "ip", "ip:port", "[v6]:port"; NULL-terminated, NULL = system */
	unsigned	  timeout_ms;	/* loaded: Haraka's 25000 if unset */
	unsigned	  tries;	/* loaded: Haraka's 1 if unset */
};

/* net-utils.ini [dns] timeout (milliseconds, as Haraka: 100 to 300000),
 * tries, servers (comma list). Unset, timeout and tries are Haraka's
 * net-utils defaults (25000 ms, 1 try), not /etc/resolv.conf's options.
 * 0, or -1 with *err (malloc'd, naming file, key and problem). A missing
 * file is not an error (defaults). */
int	 dns_config_load(const char *config_dir, struct dns_config *,
	    char **err);
void	 dns_config_clear(struct dns_config *);

#endif
