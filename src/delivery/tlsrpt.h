/*
 * tlsrpt: TLS-RPT-style counters (RFC 8460's result types) of outbound
 * TLS policies, per policy domain: successful sessions and failures by
 * result type since start-up. Every failure is logged with the domain's
 * running counts; a summary line per domain is logged by tlsrpt_log_all().
 * Event-loop thread only.
 */
#ifndef OUTPOST_TLSRPT_H
#define OUTPOST_TLSRPT_H

/* Policy types (RFC 8460 4.3). */
#define TLSRPT_POLICY_STS	"sts"
#define TLSRPT_POLICY_TLSA	"tlsa"
#define TLSRPT_POLICY_NONE	"no-policy-found"

/* Result types (RFC 8460 4.3); TLSRPT_SUCCESS counts a good session. */
#define TLSRPT_SUCCESS			"success"
#define TLSRPT_STARTTLS_NOT_SUPPORTED	"starttls-not-supported"
#define TLSRPT_CERT_HOST_MISMATCH	"certificate-host-mismatch"
#define TLSRPT_CERT_EXPIRED		"certificate-expired"
#define TLSRPT_CERT_NOT_TRUSTED		"certificate-not-trusted"
#define TLSRPT_VALIDATION_FAILURE	"validation-failure"
#define TLSRPT_TLSA_INVALID		"tlsa-invalid"
#define TLSRPT_DNSSEC_INVALID		"dnssec-invalid"
#define TLSRPT_DANE_REQUIRED		"dane-required"
#define TLSRPT_STS_POLICY_FETCH_ERROR	"sts-policy-fetch-error"
#define TLSRPT_STS_POLICY_INVALID	"sts-policy-invalid"
#define TLSRPT_STS_WEBPKI_INVALID	"sts-webpki-invalid"

/* Counts one session (or policy fetch) of domain under policy_type with
 * result_type (strings as above; copied). A failure is logged (notice)
 * with the running counts of that domain and policy type. */
void	 tlsrpt_count(const char *domain, const char *policy_type,
	    const char *result_type);

/* The running counts of domain and policy_type for one result type
 * (TLSRPT_SUCCESS included); 0 when never counted. */
unsigned long tlsrpt_get(const char *domain, const char *policy_type,
	    const char *result_type);

/* One info line per domain and policy type with its counts. */
void	 tlsrpt_log_all(void);

/* Forgets every count (shutdown). */
void	 tlsrpt_reset(void);

#endif
