/*
 * ini: Haraka's configuration file formats, parsed without side effects.
 *  - ini files: [section], key=value, key[]=value arrays, bare keys, ';'/'#'
 *    comment lines, '\' line continuation, keys before any section in
 *    [main], repeated sections merged, values trimmed. Typing (numbers,
 *    booleans) happens at lookup, with Haraka's rules.
 *  - flat files: the first non-blank, non-comment line, trimmed.
 *  - list files: every non-blank, non-comment line, trimmed.
 * The parser never fails: a line it cannot read is reported through the
 * warn callback ("Invalid line in config file '<name>': <line>") and skipped.
 */
#ifndef OUTPOST_INI_H
#define OUTPOST_INI_H

#include <stddef.h>

struct ini;

typedef void (*ini_warn_fn)(void *arg, const char *name, unsigned lineno,
    const char *msg);

/* Lookup results for typed getters. */
enum ini_got {
	INI_ABSENT = 0,		/* no such key: the caller's default applies */
	INI_OK = 1,
	INI_BAD = -1		/* present but not of the asked type */
};

struct ini	*ini_parse(const char *name, const char *data, size_t len,
		    ini_warn_fn, void *arg);
/* Reads and parses a file. A missing file gives an empty ini and *exists=0.
 * Returns NULL with errno set on other read errors. */
struct ini	*ini_load(const char *path, const char *name, int *exists,
		    ini_warn_fn, void *arg);
void		 ini_free(struct ini *);
const char	*ini_name(const struct ini *);

/* 1 if the key is present in the section (scalar, bare or array). */
int		 ini_has(const struct ini *, const char *sect, const char *key);
/* The scalar value; NULL if absent, if bare (no '='), or if an array. */
const char	*ini_get(const struct ini *, const char *sect, const char *key);
/* The line of a section's first [sect] header; 0 when it has none ([main]
 * implied by keys before any section) or is absent. */
unsigned	 ini_section_line(const struct ini *, const char *sect);
/* An ini_warn_fn for files that must be well-formed: arg is a char **
 * that gets the first bad line as an error (malloc'd), "<name>:<line>:
 * not a [section] or key=value line"; later ones are ignored. */
void		 ini_warn_first(void *arg, const char *name, unsigned lineno,
		    const char *msg);
/* The line a key was (last) set on, 0 if absent. */
unsigned	 ini_line(const struct ini *, const char *sect, const char *key);
/* Array values of key[]=...; a scalar counts as a one-element array. */
size_t		 ini_array(const struct ini *, const char *sect, const char *key,
		    const char *const **vals);

/* Haraka booleans: true|yes|ok|enabled|on|1 (any case) is true, any other
 * present value (a bare key included) is false. */
int		 ini_bool(const struct ini *, const char *sect, const char *key,
		    int def);
/* All-digit (optionally signed) integers. */
enum ini_got	 ini_int(const struct ini *, const char *sect, const char *key,
		    long long *out);
/* Integers or d+.d+ decimals. */
enum ini_got	 ini_num(const struct ini *, const char *sect, const char *key,
		    double *out);

/* Section and key iteration, in file order. */
size_t		 ini_nsections(const struct ini *);
const char	*ini_section_name(const struct ini *, size_t i);
size_t		 ini_nkeys(const struct ini *, const char *sect);
const char	*ini_key_name(const struct ini *, const char *sect, size_t i);

/* Value classification shared with flat files. */
int		 ini_is_truth(const char *);
/* false|no|off|disabled|0 (any case): the spellings of false a strict
 * reader accepts besides ini_is_truth's. */
int		 ini_is_falsity(const char *);
int		 ini_is_integer(const char *);
int		 ini_is_float(const char *);

/*
 * Flat and list files. flat_value returns a malloc'd string or NULL when
 * the file is absent or holds no value; list files give a NULL-terminated
 * malloc'd array (free with flat_list_free). Both return -1 with errno set
 * on a read error other than ENOENT, else 0.
 */
int		 flat_value(const char *path, char **out);
int		 flat_list(const char *path, char ***out, size_t *n);
void		 flat_list_free(char **);
/* Pure variants, for tests and fuzzing. */
char		*flat_value_parse(const char *data, size_t len);
char	       **flat_list_parse(const char *data, size_t len, size_t *n);

/* Reads a whole file (NUL-terminated). -1 with errno on error. */
int		 read_file(const char *path, char **data, size_t *len);

#endif
