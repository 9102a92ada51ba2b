/*
 * slashre: a "/regex/" written in a rule file (bounce_categories,
 * shaping_rules) compiled as a POSIX extended, case-insensitive regex;
 * "\/" stands for "/".
 */
#ifndef OUTPOST_SLASHRE_H
#define OUTPOST_SLASHRE_H

#include <regex.h>

/*
 * Compiles the "/.../" at *pp into *re (malloc'd; regfree and free it);
 * *pp ends past the closing slash. NULL, or why not (malloc'd: an
 * unterminated or bad regex), *re then NULL.
 */
char	*slashre_parse(const char **pp, regex_t **re);

#endif
