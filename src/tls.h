/*
 * tls: OpenSSL contexts built from tls.ini, tls_key.pem and tls_cert.pem
 * (paths relative to config/). Policy only; the TLS streams themselves are
 * libevent's OpenSSL bufferevents, owned by the sessions.
 */
#ifndef OUTPOST_TLS_H
#define OUTPOST_TLS_H

typedef struct ssl_ctx_st SSL_CTX;

/* The inbound (STARTTLS) context from tls.ini [main]: key, cert,
 * minVersion (default TLSv1.2), ciphers, honorCipherOrder. NULL with
 * *err (malloc'd, naming the file and key) on failure. */
SSL_CTX		*tls_server_ctx(const char *config_dir, char **err);

#endif
