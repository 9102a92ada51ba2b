/*
 * client_tls: the OpenSSL side of a client connection (contract in
 * client_tls.h): it stacks a filter on the connection's bufferevent and
 * reads verification results; the session decides what they mean.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "lib/buf.h"
#include "lib/xmalloc.h"
#include "core/log.h"
#include "delivery/client_conn.h"
#include "delivery/client_tls.h"
#include "delivery/dane.h"

#define SRC		"outbound"

static int
is_ip(const char *s)
{
	unsigned char a[16];

	return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

char *
client_tls_errors(struct client_conn *c, int err)
{
	struct buf b = BUF_INIT;
	unsigned long e;
	char one[256];

	while ((e = bufferevent_get_openssl_error(c->bev)) != 0) {
		if (ERR_GET_LIB(e) == 0)
			continue;	/* libevent's own bookkeeping */
		ERR_error_string_n(e, one, sizeof(one));
		buf_printf(&b, "%s%s", b.len ? "; " : "", one);
	}
	if (b.len == 0)
		buf_adds(&b, err != 0 ? strerror(err) :
		    "connection closed during the handshake");
	return buf_release(&b);
}

char *
client_tls_wrap(struct client_conn *c, SSL_CTX *ctx, const char *name,
    const char *ip, int verify, const struct dane_policy *dane)
{
	struct bufferevent *tls;
	SSL *ssl;

	/* RFC 3207 4.2: nothing the server sent before the handshake counts. */
	evbuffer_drain(bufferevent_get_input(c->bev),
	    evbuffer_get_length(bufferevent_get_input(c->bev)));
	if ((ssl = SSL_new(ctx)) == NULL) {
		ERR_clear_error();
		return xasprintf("TLS with %s: cannot create a TLS session",
		    c->peer);
	}
	if (name != NULL && !is_ip(name))
		SSL_set_tlsext_host_name(ssl, name);
	if (dane != NULL) {
		char *why = dane_ssl_setup(ssl, dane);

		if (why != NULL) {
			SSL_free(ssl);
			ERR_clear_error();
			return why;
		}
	} else if (verify) {
		/* Without a name, the address must be in the certificate. */
		if (name == NULL)
			name = ip;
		if (name != NULL && is_ip(name))
			X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name);
		else if (name != NULL)
			SSL_set1_host(ssl, name);
		SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
	} else
		SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
	tls = bufferevent_openssl_filter_new(c->base, c->bev, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (tls == NULL) {
		/* The filter freed the SSL; the plain connection stays ours. */
		return xasprintf("TLS with %s: cannot create a TLS stream",
		    c->peer);
	}
	bufferevent_openssl_set_allow_dirty_shutdown(tls, 1);
	c->bev = tls;
	return NULL;
}

void
client_tls_start(struct client_conn *c)
{
	/* The session's deadline covers the handshake. */
	bufferevent_setcb(c->bev, c->readcb, NULL, c->eventcb, c->cbarg);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

char *
client_tls_check(struct client_conn *c, int verify,
    const struct dane_policy *dane)
{
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	X509 *cert;
	long v = SSL_get_verify_result(ssl);
	char *why;

	if (dane != NULL) {
		if ((why = dane_ssl_check(ssl, dane, c->peer, c->uuid)) != NULL)
			return why;
		verify = 0;	/* DANE answered for the certificate */
	}
	cert = SSL_get_peer_certificate(ssl);
	if (verify && (cert == NULL || v != X509_V_OK)) {
		X509_free(cert);
		return xasprintf("TLS certificate of %s failed verification: %s",
		    c->peer, cert == NULL ? "no certificate" :
		    X509_verify_cert_error_string(v));
	}
	X509_free(cert);
	log_info(SRC, c->uuid, "secured: %s %s verified=%s to %s",
	    SSL_get_version(ssl), SSL_get_cipher_name(ssl),
	    dane != NULL && dane->level == DANE_VERIFY ? "dane" :
	    v == X509_V_OK ? "yes" : "no", c->peer);
	return NULL;
}

char *
client_tls_failure(struct client_conn *c, int verify, int err,
    const struct dane_policy *dane, int *unverified)
{
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	long v = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
	char *why, *text;

	*unverified = 0;
	if (dane != NULL && dane->level == DANE_VERIFY && v != X509_V_OK) {
		while (bufferevent_get_openssl_error(c->bev) != 0)
			;
		*unverified = 1;
		return dane_ssl_check(ssl, dane, c->peer, c->uuid);
	}
	if (verify && v != X509_V_OK) {
		while (bufferevent_get_openssl_error(c->bev) != 0)
			;
		*unverified = 1;
		return xasprintf("TLS certificate of %s failed verification: %s",
		    c->peer, X509_verify_cert_error_string(v));
	}
	why = client_tls_errors(c, err);
	text = xasprintf("TLS handshake with %s failed: %s", c->peer, why);
	free(why);
	return text;
}
