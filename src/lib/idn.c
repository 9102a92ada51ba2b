/*
 * idn: U-labels to A-labels through libidn2 (IDNA2008, UTS #46
 * non-transitional), and the ASCII tests that decide whether mail needs
 * SMTPUTF8. The ASCII cases return before any library call.
 */
#include "lib/idn.h"

#include <stdlib.h>
#include <string.h>

#include <idn2.h>

#include "lib/xmalloc.h"

int
idn_is_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

int
idn_domain_ascii(const char *domain, char **out, const char **why)
{
	char *ace = NULL;
	int rc;

	*out = NULL;
	if (idn_is_ascii(domain))
		return 0;
	/* NFC first: a client may send a decomposed ü. */
	rc = idn2_to_ascii_8z(domain, &ace, IDN2_NFC_INPUT |
	    IDN2_NONTRANSITIONAL);
	if (rc != IDN2_OK) {
		if (why != NULL)
			*why = idn2_strerror(rc);
		return -1;
	}
	/* Ours to free with free(): libidn2 allocates with malloc. */
	*out = xstrdup(ace);
	idn2_free(ace);
	return 0;
}

int
idn_addr_ascii(const char *addr, char **out)
{
	const char *at = strrchr(addr, '@');
	char *ace;
	size_t llen;

	*out = NULL;
	if (at == NULL) {		/* <> or a bare name: as it is */
		if (!idn_is_ascii(addr))
			return -1;
		*out = xstrdup(addr);
		return 0;
	}
	llen = (size_t)(at - addr);
	for (size_t i = 0; i < llen; i++)
		if ((unsigned char)addr[i] >= 0x80)
			return -1;
	if (idn_domain_ascii(at + 1, &ace, NULL) != 0)
		return -1;
	if (ace == NULL)
		*out = xstrdup(addr);
	else {
		*out = xasprintf("%.*s@%s", (int)llen, addr, ace);
		free(ace);
	}
	return 0;
}

int
idn_header_nonascii(const char *msg, size_t len)
{
	const char *p = msg, *end = msg + len;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *stop = eol != NULL ? eol : end;

		if (stop == p || (stop - p == 1 && *p == '\r'))
			return 0;		/* the empty line */
		for (const char *q = p; q < stop; q++)
			if ((unsigned char)*q >= 0x80)
				return 1;
		p = eol != NULL ? eol + 1 : end;
	}
	return 0;
}
