/*
 * outpost/plugin.h: the one public header, the ABI between Outpost and its
 * plugins (built in, or shared objects loaded by name from config/plugins).
 *
 * A plugin exports one `const struct op_plugin outpost_plugin` whose `abi`
 * is OUTPOST_PLUGIN_ABI. At start-up Outpost calls init(), in which the
 * plugin registers the hooks it handles; at exit it calls shutdown().
 * Hooks run in config/plugins order. A hook handler answers with op_next()
 * — during the call or later, from the event loop (async work) — and the
 * answer decides what happens next, with Haraka's return codes:
 * OP_CONT passes to the next plugin; any other code ends the chain and is
 * the hook's result. A plugin that does not answer within its timeout
 * (config/<name>.timeout, default 30 s, 0 = none) yields OP_DENYSOFT
 * "plugin timeout"; its late answer is then ignored.
 *
 * Everything a plugin is handed (calls, records) is valid until it answers
 * (for the log hook: until the handler returns).
 */
#ifndef OUTPOST_PLUGIN_H
#define OUTPOST_PLUGIN_H

#ifdef __cplusplus
extern "C" {
#endif

#include <stdarg.h>

/* Bumped on any incompatible change; a plugin built for another ABI is
 * refused at start-up. */
#define OUTPOST_PLUGIN_ABI	1

/* Hook return codes: Haraka's names and values. */
enum op_code {
	OP_CONT = 900,
	OP_STOP = 901,
	OP_DENY = 902,
	OP_DENYSOFT = 903,
	OP_DENYDISCONNECT = 904,
	OP_DISCONNECT = 905,
	OP_OK = 906,
	OP_NEXT_HOOK = 907,
	OP_DELAY = 908,
	OP_DENYSOFTDISCONNECT = 909
};

/* Hooks. New hooks are only ever appended. */
enum op_hook {
	OP_HOOK_LOG = 0,		/* every log record (op_call_log) */
	OP_HOOK_REOPEN,			/* SIGUSR1: reopen your files */
	OP_HOOK_QUEUE_OUTBOUND,
	OP_HOOK_PRE_SEND_TRANS_EMAIL,
	OP_HOOK_SEND_EMAIL,
	OP_HOOK_GET_MX,
	OP_HOOK_DEFERRED,
	OP_HOOK_BOUNCE,
	OP_HOOK_DELIVERED,
	OP_HOOK_FEEDBACK		/* a remote bounce or a complaint
					 * (op_call_feedback) */
};

/* Log levels (Haraka's numbers). */
enum op_level {
	OP_LOG_EMERG = 0, OP_LOG_ALERT, OP_LOG_CRIT, OP_LOG_ERROR,
	OP_LOG_WARN, OP_LOG_NOTICE, OP_LOG_INFO, OP_LOG_DEBUG,
	OP_LOG_PROTOCOL, OP_LOG_DATA
};

struct op_env;		/* the daemon, during init */
struct op_call;		/* one hook invocation of one plugin */
struct event_base;	/* libevent */

typedef void (*op_hook_fn)(struct op_call *, void *data);

struct op_plugin {
	unsigned	  abi;		/* OUTPOST_PLUGIN_ABI */
	const char	 *name;
	/* Register hooks; set *data for the handlers. 0 on success; -1
	 * stops start-up (log why first). May be NULL. */
	int		(*init)(struct op_env *, void **data);
	/* Release everything; called once at exit, in reverse order, after
	 * the event loop stopped (the event base still exists: free your
	 * events there). Calls still unanswered are dropped by Outpost: do
	 * not answer them. May be NULL. */
	void		(*shutdown)(void *data);
};

/* --- during init ---------------------------------------------------- */

/*
 * Handle `hook` with fn. flags: 0, or OP_HOOK_OBSERVE. 0, or -1 for an
 * unknown hook or flag.
 *
 * OP_HOOK_OBSERVE (deferred, bounce, delivered and feedback only) registers an
 * observer instead of a link of the chain. An observer is called once per
 * event after the chain's verdict took effect, whatever that verdict and
 * wherever the plugin stands in config/plugins: it sees every recipient
 * concerned and the final retry delay. Recipients the deferred chain
 * dropped, and those whose retries ran out, come in the bounce event
 * (action "failed", status 5.x.y). Observers are called together; the
 * mail's queue entry is not rewritten or removed until every observer has
 * answered with op_next() (whose code is ignored), so an observer can make
 * its record durable first — or until the longest of the observers'
 * timeouts (config/<name>.timeout) passes, when the event goes on without
 * the late ones (CRIT logged; never when one observer has timeout 0).
 * Recording plugins use this.
 */
#define OP_HOOK_OBSERVE	0x01
int		 op_register_hook(struct op_env *, enum op_hook, op_hook_fn,
		    unsigned flags);
/* The plugin's configuration directory (ROOT/config). */
const char	*op_config_dir(const struct op_env *);
const char	*op_plugin_name(const struct op_env *);
/* The event loop, for plugins that do asynchronous work. */
struct event_base *op_event_base(const struct op_env *);
/* The value of `key` in section `section` of ROOT/config/<file>, a
 * Haraka ini file (keys before any section are in "main"), as a malloc'd
 * string the plugin frees; NULL when the file or the key is absent. */
char		*op_config_get(const struct op_env *, const char *file,
		    const char *section, const char *key);

/* --- inside a hook ---------------------------------------------------- */

/* Answer, exactly once per call: code is an enum op_code, msg may be
 * NULL (it is copied). The call is gone once answered. */
void		 op_next(struct op_call *, int code, const char *msg);
enum op_hook	 op_call_hook(const struct op_call *);

/* The record of OP_HOOK_LOG (NULL for other hooks). */
struct op_log_record {
	int		 level;		/* enum op_level */
	const char	*level_name;	/* "INFO" */
	const char	*uuid;		/* "-" when none */
	const char	*source;	/* "core" or a plugin name */
	const char	*message;
	const char	*line;		/* rendered in the configured format */
};
const struct op_log_record *op_call_log(const struct op_call *);

/* The transaction of OP_HOOK_QUEUE_OUTBOUND and OP_HOOK_PRE_SEND_TRANS_EMAIL
 * (NULL for other hooks). queue_outbound: OP_OK means the plugin took the
 * message itself (the client gets 250); OP_DENY/OP_DENYDISCONNECT 550;
 * OP_DENYSOFT/OP_DENYSOFTDISCONNECT 450; OP_CONT queues it for delivery.
 * pre_send_trans_email's answer is ignored. */
struct op_txn;
const struct op_txn *op_call_txn(const struct op_call *);
const char	*op_txn_uuid(const struct op_txn *);
const char	*op_txn_mail_from(const struct op_txn *);	/* "" for <> */
unsigned	 op_txn_rcpt_count(const struct op_txn *);
const char	*op_txn_rcpt(const struct op_txn *, unsigned i);
const char	*op_txn_remote_ip(const struct op_txn *);
const char	*op_txn_helo(const struct op_txn *);
/* Headers, empty line, body; CRLF line ends; not dot-stuffed. */
const char	*op_txn_message(const struct op_txn *, unsigned long *len);
/* queue_outbound, pre_send_trans_email: keeps the note key=value with the
 * mail's queue entries, as send_email's notes (copied; a later value of a
 * key wins). key: letters, digits, '_', '-', '.'. The dkim plugin signs
 * with the keys of the domain and selector named by the notes dkim_domain
 * and dkim_selector. 0, or -1 (another hook, a bad key). */
int		 op_txn_set_note(struct op_call *, const char *key,
		    const char *value);

/* --- the outbound hooks ----------------------------------------------
 * send_email, get_mx, deferred, bounce and delivered receive one queued
 * mail (one recipient domain) and the event: op_call_outbound(). Fields
 * are only ever appended; `size` is sizeof(struct op_outbound) as built
 * by Outpost, so a plugin can check a field exists before reading it.
 *
 * Answers (Haraka's):
 *   send_email  OP_DELAY, "<seconds>": try later, no failure counted;
 *               anything else: deliver now.
 *   get_mx      OP_OK with op_next_mx(), or OP_OK with msg = one or more
 *               MX strings ("smtp://user:pass@host:port", "lmtp://host",
 *               "[1.2.3.4]:2525", "host:port", "host") separated by
 *               commas or spaces: deliver there, in that order;
 *               OP_DENY: bounce (5.1.2 "No MX for <domain>");
 *               OP_DENYSOFT: defer (4.1.2); anything else: DNS.
 *   deferred    OP_CONT: retry after `delay`; OP_DENYSOFT, "<seconds>":
 *               retry after that many seconds; anything else: drop the
 *               deferred recipients without a report.
 *   bounce      OP_CONT: send the delivery status notification (never to
 *               the null sender); anything else: no notification.
 *   delivered   the answer is ignored.
 */

/*
 * One recipient, with its outcome for deferred, bounce and delivered
 * (action, status, code and response are then always set; code is the
 * SMTP reply code, or the one Outpost's own failure stands for, e.g. 550
 * for a null MX). Passed as an array: this struct never changes within
 * an ABI.
 */
struct op_rcpt {
	const char	*address;	/* bare: user@example.com */
	const char	*action;	/* "delivered", "delayed", "failed";
					 * NULL before an attempt */
	const char	*status;	/* enhanced status: "5.1.1" */
	int		 code;		/* reply code: 550 */
	const char	*response;	/* the remote reply text without code
					 * and status, or Outpost's own message */
	const char	*reason;	/* "550 5.1.1 <response>": a remote
					 * reply as it was worded ("450
					 * <response>" when it had no
					 * enhanced status), or Outpost's
					 * own "<code> <status> <message>" */
	int		 remote;	/* the outcome is a remote reply */
};

struct op_outbound {
	unsigned		 size;
	const char		*id;		/* queue id (job id) */
	const char		*domain;	/* recipient domain */
	const char		*mail_from;	/* bare, "" for <> */
	long long		 queue_time;	/* ms since the epoch */
	unsigned		 attempts;	/* temporary failures so far */
	const char		*helo;		/* the submitting client's */
	const char		*client_ip;
	const char		*message;	/* headers, body; CRLF (see
						 * message_size) */
	unsigned long		 message_len;
	const struct op_rcpt	*rcpts;		/* the recipients concerned */
	unsigned		 nrcpts;
	const char		*error;		/* deferred, bounce: why */
	double			 delay;		/* delivered: s since queued;
						 * deferred: s until retry */
	/* The server of the attempt (delivered; failures after connect). */
	const char		*host;		/* MX name, else its address */
	const char		*ip;
	unsigned		 port;
	const char		*local_ip;	/* our address */
	const char		*mode;		/* "SMTP" or "LMTP" */
	const char		*response;	/* delivered: the final reply */
	int			 secured;	/* TLS was used */
	int			 authenticated;	/* AUTH succeeded */
	const char		*route;		/* route name (vmta), or NULL */
	const char *const	*notes;		/* key, value, ..., NULL; or NULL */
	/* The whole message's size. `message` above holds all of it when
	 * it has at most 64 KiB, else only its header section (headers and
	 * the empty line): delivery streams a large message from disk. */
	unsigned long long	 message_size;
};
const struct op_outbound *op_call_outbound(const struct op_call *);

/* --- feedback --------------------------------------------------------
 * OP_HOOK_FEEDBACK receives one piece of feedback that arrived after the
 * mail was accepted by the remote: a remote bounce (an RFC 3464 report or
 * a provider's plain-text bounce naming a failed recipient) or a complaint
 * (an RFC 5965 ARF report), for one original recipient. It is an observed
 * hook: recording plugins register it with OP_HOOK_OBSERVE and the report
 * is kept until their records are durable; the answer is ignored.
 * Fields are only ever appended (`size` as for op_outbound); strings the
 * report did not give are NULL.
 */
struct op_feedback {
	unsigned	 size;
	const char	*type;		/* "remote_bounce" or "complaint" */
	const char	*event_id;	/* stable id of this record: the same
					 * report processed twice has the same */
	long long	 arrival_time;	/* ms since the epoch: when the report
					 * reached Outpost */
	const char	*reporting_mta;	/* the report's Reporting-MTA (or,
					 * for ARF, its Reported-Domain/
					 * User-Agent's host); else the
					 * sending client's HELO */
	const char	*report_from;	/* the report's envelope sender */
	/* The original mail, as far as the report and the return path
	 * tell (id: the queue id / job id Outpost gave it). */
	const char	*id;
	const char	*recipient;	/* bare address */
	const char	*mail_from;	/* bare, "" for <> */
	const char	*message_id;	/* the original Message-ID */
	long long	 queue_time;	/* ms since the epoch, 0 unknown */
	const char	*correlation;	/* how it was matched: "verp",
					 * "message-id", "envelope" */
	/* The failure (remote_bounce) or the complaint. */
	const char	*action;	/* "failed", "delayed" (RFC 3464) */
	const char	*status;	/* enhanced status "5.1.1" */
	const char	*diagnostic;	/* the remote's words */
	const char	*remote_mta;	/* the MTA that refused (Remote-MTA) */
	const char	*category;	/* bounce category (bounce_categories
					 * rules); complaints: "complaint" */
	const char	*feedback_type;	/* ARF: "abuse", "fraud", ... */
	const char	*user_agent;	/* ARF User-Agent */
	const char	*source_ip;	/* ARF Source-IP */
	const char	*vmta;		/* the route of the original mail */
};
const struct op_feedback *op_call_feedback(const struct op_call *);

/* A destination for get_mx. Unset fields are 0/NULL. */
struct op_mx {
	const char	*exchange;	/* host name or IP literal */
	const char	*path;		/* or a Unix socket */
	int		 priority;
	unsigned	 port;		/* 0: 25 (LMTP: 24) */
	const char	*bind;		/* local address to connect from */
	const char	*bind_helo;	/* EHLO name */
	int		 using_lmtp;
	const char	*auth_user;
	const char	*auth_pass;
	const char	*auth_type;	/* "PLAIN", "LOGIN", "CRAM-MD5" */
	const char	*route;		/* a name for records (vmta) */
};
/* get_mx: answers OP_OK with these destinations (copied), in order. */
void		 op_next_mx(struct op_call *, const struct op_mx *,
		    unsigned n);

/* --- mail generated by a plugin ---------------------------------------
 * Seed 003's outbound.send_email: queues contents (headers, empty line,
 * body; LF or CRLF line ends) from `from` ("" for <>) to the n addresses
 * `to`, through pre_send_trans_email and a durable commit, like every mail
 * Outpost generates itself (DSNs). flags: OP_SEND_*; notes: NULL or a
 * NULL-terminated key, value, ... list kept with the mail (a `next_hop`
 * note, an MX string, routes it). done (may be NULL) gets OP_OK
 * "Message Queued (<id>)", or OP_DENY / OP_DENYSOFT and the reason; it
 * runs later, from the event loop, never during the call.
 */
#define OP_SEND_DOT_STUFFED	0x01	/* contents are dot-stuffed */
#define OP_SEND_REMOVE_MSGID	0x02	/* drop its Message-Id (a new one is added) */
#define OP_SEND_REMOVE_DATE	0x04	/* drop its Date (a new one is added) */
typedef void (*op_send_done_fn)(void *arg, int code, const char *msg);
void		 op_send_email(const char *from, const char *const *to,
		    unsigned n, const char *contents, unsigned long len,
		    unsigned flags, const char *const *notes,
		    op_send_done_fn done, void *arg);

/* --- anywhere ------------------------------------------------------- */

/* Log through Outpost's logger; source is the plugin's name. */
void		 op_log(int level, const char *source, const char *uuid,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#ifdef __cplusplus
}
#endif

#endif
