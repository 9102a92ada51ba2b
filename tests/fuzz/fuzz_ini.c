/*
 * libFuzzer target: ini, flat and list configuration files. Oracles: what
 * an ini file parses to, written back ([section], key=value, key[]=value,
 * bare keys, in the order read), parses to the same sections, keys and
 * values — unless a value ends in '\' (a continuation), a key line would
 * read as a [section], or the file holds a NUL byte (where C strings end);
 * every key found is there with its line; typed getters agree with the
 * value's class; a flat file's value is a list file's first line.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "lib/buf.h"
#include "lib/ini.h"

/* A key line that reads as a section header ("[k=v]", made by joining
 * continuation lines) cannot be written back. */
static int
header_like(const char *key, const char *val)
{
	const char *close;

	if (key[0] != '[')
		return 0;
	if ((close = strchr(key, ']')) != NULL)
		return close[1] == '\0' && val == NULL;
	return val != NULL && (close = strchr(val, ']')) != NULL &&
	    close[1] == '\0';
}

/* Writes ini back in its own syntax; 0 when it cannot be. */
static int
write_ini(const struct ini *ini, struct buf *b)
{
	for (size_t s = 0; s < ini_nsections(ini); s++) {
		const char *sect = ini_section_name(ini, s);

		buf_printf(b, "[%s]\n", sect);
		for (size_t k = 0; k < ini_nkeys(ini, sect); k++) {
			const char *key = ini_key_name(ini, sect, k);
			const char *v = ini_get(ini, sect, key);
			const char *const *arr;
			size_t n = ini_array(ini, sect, key, &arr);

			if (header_like(key, v))
				return 0;
			if (v != NULL) {
				if (*v && v[strlen(v) - 1] == '\\')
					return 0;
				buf_printf(b, "%s=%s\n", key, v);
			} else if (n == 0)
				buf_printf(b, "%s\n", key);
			for (size_t i = 0; v == NULL && i < n; i++) {
				if ((*arr[i] && arr[i][strlen(arr[i]) - 1] ==
				    '\\') || header_like(key, arr[i]))
					return 0;
				buf_printf(b, "%s[]=%s\n", key, arr[i]);
			}
		}
	}
	return 1;
}

static int
streq(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

static void
same_ini(const struct ini *a, const struct ini *b)
{
	check(ini_nsections(a) == ini_nsections(b));
	for (size_t s = 0; s < ini_nsections(a); s++) {
		const char *sect = ini_section_name(a, s);

		check(strcmp(sect, ini_section_name(b, s)) == 0);
		check(ini_nkeys(a, sect) == ini_nkeys(b, sect));
		for (size_t k = 0; k < ini_nkeys(a, sect); k++) {
			const char *key = ini_key_name(a, sect, k);
			const char *const *va, *const *vb;
			size_t na = ini_array(a, sect, key, &va);
			size_t nb = ini_array(b, sect, key, &vb);

			check(strcmp(key, ini_key_name(b, sect, k)) == 0);
			check(streq(ini_get(a, sect, key), ini_get(b, sect,
			    key)));
			check(na == nb);
			for (size_t i = 0; i < na; i++)
				check(strcmp(va[i], vb[i]) == 0);
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ini *ini = ini_parse("fuzz.ini", (const char *)data, size,
	    NULL, NULL), *again;
	struct buf out = BUF_INIT;
	const char *const *v;
	char *flat, **list;
	long long i;
	double d;
	size_t n;

	check(ini_nsections(ini) >= 1 &&
	    strcmp(ini_section_name(ini, 0), "main") == 0);
	for (size_t s = 0; s < ini_nsections(ini); s++) {
		const char *sect = ini_section_name(ini, s);

		for (size_t k = 0; k < ini_nkeys(ini, sect); k++) {
			const char *key = ini_key_name(ini, sect, k);
			const char *val = ini_get(ini, sect, key);

			check(ini_has(ini, sect, key));
			check(ini_line(ini, sect, key) >= 1);
			n = ini_array(ini, sect, key, &v);
			check(val == NULL || (n == 1 && v[0] == val));
			ini_bool(ini, sect, key, 0);
			if (ini_int(ini, sect, key, &i) == INI_OK)
				check(val != NULL && ini_is_integer(val));
			if (ini_num(ini, sect, key, &d) == INI_OK)
				check(val != NULL && (ini_is_integer(val) ||
				    ini_is_float(val)));
		}
	}
	/* Names and values are C strings: one with a NUL inside is cut
	 * there, and what follows (blanks to trim...) is lost. */
	if (memchr(data, '\0', size) == NULL && write_ini(ini, &out)) {
		again = ini_parse("again.ini", out.p, out.len, NULL, NULL);
		same_ini(ini, again);
		ini_free(again);
	}
	ini_free(ini);
	buf_free(&out);

	flat = flat_value_parse((const char *)data, size);
	list = flat_list_parse((const char *)data, size, &n);
	check(list[n] == NULL);
	check(n == 0 ? flat == NULL : streq(flat, list[0]));
	free(flat);
	flat_list_free(list);
	return 0;
}
