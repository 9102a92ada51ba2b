/*
 * json: writing JSON strings. Output matches JSON.stringify (", \\ and
 * control characters escaped, other UTF-8 kept as is), except that bytes
 * that are not valid UTF-8 become \ufffd so the output is always valid JSON.
 */
#ifndef OUTPOST_JSON_H
#define OUTPOST_JSON_H

#include <stddef.h>

#include "lib/buf.h"

void	json_string(struct buf *, const char *);
/* Length of the valid UTF-8 sequence at p (1..4), 0 when invalid. */
size_t	utf8_len(const unsigned char *p, size_t avail);

#endif
