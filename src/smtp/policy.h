/*
 * smtp/policy: the reception policy — relay check, domains taken from
 * anyone, a sender check, AUTH back-end and STARTTLS context — that the built-in plugins install during init and
 * the sessions read. Includes nothing else of smtp/.
 */
#ifndef OUTPOST_SMTP_POLICY_H
#define OUTPOST_SMTP_POLICY_H

#include <stddef.h>
#include <sys/socket.h>

typedef struct ssl_ctx_st SSL_CTX;

#define AUTH_PLAIN	0x01
#define AUTH_LOGIN	0x02
#define AUTH_CRAM_MD5	0x04

struct auth_backend {
	unsigned	 methods;		/* AUTH_* */
	/* 1 when user/pass are valid, else 0. */
	int		(*check_plain)(void *, const char *user,
			    const char *pass);
	/* CRAM-MD5: 1 when hex_digest is HMAC-MD5(password, challenge). */
	int		(*check_cram)(void *, const char *user,
			    const char *challenge, const char *hex_digest);
	void		*data;
};

/* Answers whether a client address may relay (the relay plugin). */
typedef int (*relay_fn)(const struct sockaddr *, void *data);

/* Answers whether mail for a recipient domain (lower-case) is taken
 * from any client, relaying or not (rcpt_to.in_host_list). */
typedef int (*local_domain_fn)(const char *domain, void *data);

/* The answer of a MAIL check: reply NULL accepts the sender; else the
 * whole reply line ("550 5.1.8 ...") refuses it. Called exactly once,
 * never inside the check's call. */
typedef void (*mail_check_done_fn)(void *cookie, const char *reply);
/* Checks a sender's domain (lower-case; never called for <> or a sender
 * without a domain) while the session waits (mail_from.is_resolvable). */
typedef void (*mail_check_fn)(const char *domain, const char *uuid,
    mail_check_done_fn, void *cookie, void *data);

/* Feedback reception (feedback/): whether mail for a recipient domain
 * (lower-case) is feedback — taken from any client, never relayed. */
typedef int (*feedback_domain_fn)(const char *domain, void *data);
/* done(cookie, 0) once a feedback mail is on disk, else done(cookie,
 * errno); from the loop, never inside the take call. */
typedef void (*feedback_done_fn)(void *cookie, int err);
/* Takes one received feedback mail (msg malloc'd, taken). */
typedef void (*feedback_take_fn)(const char *uuid, const char *mail_from,
    const char *const *rcpts, size_t nrcpts, const char *helo,
    const char *ip, char *msg, size_t len, feedback_done_fn,
    void *cookie, void *data);

/* The policy as installed; the sessions read it. */
struct reception {
	relay_fn			 relay;
	void				*relay_data;
	local_domain_fn			 local_domain;
	void				*local_domain_data;
	int				 anti_spoof;	/* senders in those
							 * domains must relay */
	mail_check_fn			 mail_check;
	void				*mail_check_data;
	const struct auth_backend	*auth;
	SSL_CTX				*tls;
	feedback_domain_fn		 feedback_domain;
	feedback_take_fn		 feedback_take;
	void				*feedback_data;
};
const struct reception *reception_get(void);

/* Whether an AUTH method may be offered: configured, and PLAIN or LOGIN
 * (clear-text passwords) only under TLS or to a loopback client. */
int	 auth_method_allowed(unsigned methods, unsigned method, int tls,
	    int loopback);

void	 reception_set_relay(relay_fn, void *data);
/* anti_spoof (host_list.anti_spoof): a client that does not relay may
 * not use a sender in those domains. */
void	 reception_set_local_domain(local_domain_fn, void *data,
	    int anti_spoof);
void	 reception_set_mail_check(mail_check_fn, void *data);
void	 reception_set_auth(const struct auth_backend *);	/* NULL: none */
void	 reception_set_tls(SSL_CTX *);		/* referenced; NULL: none */
void	 reception_set_feedback(feedback_domain_fn, feedback_take_fn,
	    void *data);				/* NULL: none */
/* Whether a recipient (local@domain) or domain is a feedback address. */
int	 reception_feedback_rcpt(const char *addr);

#endif
