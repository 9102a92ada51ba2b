/*
 * dkim_keys: the DKIM signing configuration — config/dkim.ini (Haraka's
 * dkim plugin keys) and the keys of config/dkim/<domain>/ (`private`
 * and `selector`, as Haraka's dkim_key_gen.sh writes them; more keys as
 * `<name>.private` + `<name>.selector`), plus Haraka's single-domain key
 * config/dkim.private.key. Loaded whole at start-up and on a reload;
 * immutable once loaded and shared by reference (the signing thread
 * reads it). dkim_keygen writes a new key's files.
 */
#ifndef OUTPOST_DKIM_KEYS_H
#define OUTPOST_DKIM_KEYS_H

#include <stddef.h>

#include "lib/buf.h"
#include "proto/dkim_canon.h"

struct evp_pkey_st;

enum dkim_alg { DKIM_RSA_SHA256 = 0, DKIM_ED25519_SHA256 = 1 };

struct dkim_key {
	char			*domain;	/* d= */
	char			*selector;	/* s= */
	enum dkim_alg		 alg;
	struct evp_pkey_st	*pkey;
	char			*file;		/* where it came from */
};

struct dkim_domain {
	char		*name;
	struct dkim_key	*keys;
	size_t		 nkeys;
};

struct dkim_config {
	unsigned		 refs;
	int			 enabled;
	enum dkim_canon		 hcanon, bcanon;
	char			**headers;	/* lower case, From first */
	size_t			 nheaders;
	char			**oversign;	/* lower case, in headers */
	size_t			 noversign;
	struct dkim_domain	*domains;
	size_t			 ndomains;
	/* [sign] domain/selector: signs mail no domain directory matches. */
	struct dkim_domain	*fallback;	/* NULL: none */
	/* [sign] additional_domains: their keys sign every message too. */
	struct dkim_domain	**also;
	size_t			 nalso;
	char			*warning;	/* for the log, or NULL */
};

/*
 * Loads config_dir/dkim.ini and config_dir/dkim/. NULL with *err
 * (malloc'd, one line naming the file and the key or line) on any error:
 * an unreadable or unusable key, a domain directory with a key and no
 * selector, a bad value.
 */
struct dkim_config *dkim_config_load(const char *config_dir, char **err);
struct dkim_config *dkim_config_ref(struct dkim_config *);
void		 dkim_config_unref(struct dkim_config *);	/* NULL is fine */
/* The keys of domain, else of its nearest parent domain with keys
 * (mail.example.com, example.com, com); NULL when none. */
const struct dkim_domain *dkim_config_find(const struct dkim_config *,
		    const char *domain);
/* The number of keys loaded. */
size_t		 dkim_config_nkeys(const struct dkim_config *);

/* The DNS TXT record's text of the key's public half:
 * "v=DKIM1; k=rsa; p=..." (k=ed25519: RFC 8463's raw 32 bytes). */
void		 dkim_key_txt(const struct dkim_key *, struct buf *out);

/*
 * outpost --dkim-keygen: a new key for domain/selector in
 * config_dir/dkim/<domain>/: rsa (bits) as private, public, selector and
 * dns; ed25519 as ed25519.private, ed25519.public, ed25519.selector and
 * ed25519.dns. The private key is 0600; no file is overwritten. The TXT
 * record line (what `dns` holds first) is appended to out. 0, or -1 with
 * *err (malloc'd).
 */
int		 dkim_keygen(const char *config_dir, const char *domain,
		    const char *selector, enum dkim_alg, unsigned bits,
		    struct buf *out, char **err);

#endif
