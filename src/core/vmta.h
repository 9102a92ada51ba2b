/*
 * vmta: source-IP pools ("virtual MTAs", config/pools.ini): named sets of
 * local addresses, each pool with its HELO name, and the rules that pick
 * a pool for a message (a header at reception, the sender's domain, a
 * default). Loaded into one reference-counted struct swapped whole on
 * reload; the only thing that changes after loading is each pool's
 * round-robin state (vmta_pick, the delivery loop's thread only).
 *
 * pools.ini (Haraka-style ini; optional: absent, there are no pools):
 *   [main]
 *   default=NAME            the pool of mail no rule picks (empty: none,
 *                           the system chooses the source address)
 *   header=X-Outpost-Pool   the header naming a message's pool (removed
 *                           at reception; empty: no header is looked at)
 *   [pool:NAME]
 *   addresses=A, B*3        local IPv4/IPv6 addresses, each with an
 *                           optional weight (1..1000, default 1)
 *   helo=NAME               the EHLO name with them (default: me)
 *   [domains]
 *   example.com=NAME        the sender's domain (or a parent) -> a pool
 * An unknown section or key, a bad value or an unknown pool name is an
 * error naming the file and line.
 */
#ifndef OUTPOST_VMTA_H
#define OUTPOST_VMTA_H

#define VMTA_DEFAULT_HEADER	"X-Outpost-Pool"
#define VMTA_NAME_MAX		64	/* a pool's name */
#define VMTA_WEIGHT_MAX		1000

struct vmta;

/* One pick: the pool's name, the address and the HELO name (NULL: the
 * caller's default). Valid while the struct vmta lives. */
struct vmta_pick {
	const char	*pool;
	const char	*addr;
	const char	*helo;
};

/* Reads config_dir/pools.ini (absent: no pools). NULL with a malloc'd
 * one-line *err ("config/pools.ini:3: ...") when it is bad or unreadable. */
struct vmta	*vmta_load(const char *config_dir, char **err);
/* The same from text (NULL: the file is absent); for tests. */
struct vmta	*vmta_parse(const char *text, char **err);
struct vmta	*vmta_ref(struct vmta *);
void		 vmta_unref(struct vmta *);

/* The number of pools (0: pools.ini is absent or names none). */
unsigned	 vmta_count(const struct vmta *);
/* The header naming a message's pool; NULL when none is looked at. */
const char	*vmta_header(const struct vmta *);
/* The pool called name (any case), its canonical name; NULL if none. */
const char	*vmta_find(const struct vmta *, const char *name);
/* The pool of a sender (local@domain, "" for <>): [domains] by the
 * domain, then its parent domains, then [main] default; NULL: none. */
const char	*vmta_for_sender(const struct vmta *, const char *mail_from);
/* The next address of the pool called name, by smooth weighted
 * round-robin; 0, or -1 when there is no such pool. */
int		 vmta_pick(struct vmta *, const char *name, struct vmta_pick *);

#endif
