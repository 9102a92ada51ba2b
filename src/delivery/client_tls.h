/*
 * client_tls: STARTTLS on a client connection — the OpenSSL filter stacked
 * on its bufferevent, the check of the server's certificate, and the texts
 * of TLS failures. Works on a struct client_conn; knows no SMTP state.
 */
#ifndef OUTPOST_CLIENT_TLS_H
#define OUTPOST_CLIENT_TLS_H

struct client_conn;
struct dane_policy;
typedef struct ssl_ctx_st SSL_CTX;

/*
 * After 220 to STARTTLS: stacks an OpenSSL filter on c (c->bev becomes
 * it), SNI from name (unless an IP); with verify, the certificate must
 * match name, or ip without a name. NULL, or the error (malloc'd; the
 * plain connection stays in c). client_tls_start() then shakes hands.
 * With a DANE policy (dane.h), it decides verification instead.
 */
char	*client_tls_wrap(struct client_conn *c, SSL_CTX *ctx,
	    const char *name, const char *ip, int verify,
	    const struct dane_policy *dane);
void	 client_tls_start(struct client_conn *c);

/* The handshake completed: NULL when acceptable (logged as secured), else
 * why the certificate failed verification (malloc'd). */
char	*client_tls_check(struct client_conn *c, int verify,
	    const struct dane_policy *dane);

/* The handshake failed (err: errno, or 0): why (malloc'd); *unverified set
 * when, with verify, the certificate was the cause. */
char	*client_tls_failure(struct client_conn *c, int verify, int err,
	    const struct dane_policy *dane, int *unverified);

/* The OpenSSL errors queued on the connection, or strerror(err) (malloc'd). */
char	*client_tls_errors(struct client_conn *c, int err);

#endif
