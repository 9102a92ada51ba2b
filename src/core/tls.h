/*
 * tls: OpenSSL contexts built from tls.ini, tls_key.pem and tls_cert.pem
 * (paths relative to config/), and the outbound TLS policy. Policy only;
 * the TLS streams themselves are libevent's OpenSSL bufferevents, owned by
 * the sessions.
 */
#ifndef OUTPOST_TLS_H
#define OUTPOST_TLS_H

typedef struct ssl_ctx_st SSL_CTX;

/* The inbound (STARTTLS) context from tls.ini [main]: key, cert,
 * minVersion (default TLSv1.2), ciphers, honorCipherOrder. NULL with
 * *err (malloc'd, naming the file and key) on failure. */
SSL_CTX		*tls_server_ctx(const char *config_dir, char **err);

/*
 * Outbound: tls.ini [main] overridden by [outbound] (Haraka): minVersion,
 * ciphers, and key/cert when present (a client certificate); the system
 * CA store for verification (used only for forced hosts), plus `ca` (a
 * PEM bundle, relative to config/) when set. no_tls_hosts and
 * force_tls_hosts (comma lists, or [no_tls_hosts]/[force_tls_hosts]
 * sections of names) hold IPs, CIDR blocks and host/domain names.
 */
struct tls_outbound;
struct tls_outbound *tls_outbound_load(const char *config_dir, char **err);
void		 tls_outbound_free(struct tls_outbound *);
SSL_CTX		*tls_outbound_ctx(const struct tls_outbound *);
/* True when ip (the MX address), host (the MX name, may be NULL) or
 * domain (the recipient domain) is listed. Names match
 * case-insensitively and exactly. */
int		 tls_no_tls_host(const struct tls_outbound *, const char *ip,
		    const char *host, const char *domain);
int		 tls_force_tls_host(const struct tls_outbound *,
		    const char *ip, const char *host, const char *domain);
/* [outbound] mta_sts (default true): MTA-STS policies apply. */
int		 tls_mta_sts(const struct tls_outbound *);
/* The `ca` bundle's path, NULL when none is set. */
const char	*tls_outbound_ca(const struct tls_outbound *);

/*
 * DANE for SMTP (RFC 7672), tls.ini [outbound]: dane (default false),
 * dane_trust_anchor (DS/DNSKEY records in zone-file form, relative to
 * config/; default TLS_DANE_ROOT_KEY, Debian's dns-root-data),
 * dane_resolvers ("ip", "ip@port", comma list; default net-utils.ini's
 * servers, else /etc/resolv.conf). True when dane is on; the strings
 * belong to the object (resolvers may be NULL).
 */
#define TLS_DANE_ROOT_KEY	"/usr/share/dns/root.key"
int		 tls_dane(const struct tls_outbound *,
		    const char **trust_anchor, const char **resolvers);

/* rejectUnauthorized ([outbound], else [main]; default false): a server
 * certificate that does not verify fails the STARTTLS, on every host. */
int		 tls_reject_unauthorized(const struct tls_outbound *);

#endif
