/* libFuzzer target: SMTP command lines, paths and parameters. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto/smtp_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct slice line = slice_of((const char *)data, size), params;
	struct smtp_param p[SMTP_PARAMS_MAX];
	struct smtp_addr a;
	struct smtp_cmd cmd;
	const char *why;
	size_t n;

	smtp_parse_command(line, &cmd);
	for (int utf8 = 0; utf8 < 2; utf8++) {
		if (smtp_parse_mail_rcpt(cmd.arg, "FROM", utf8, &a, &params,
		    &why) == SMTP_P_OK) {
			smtp_parse_params(params, utf8, p, &n, &why);
			if (strlen(a.local) > SMTP_LOCAL_MAX)
				__builtin_trap();
		}
		if (smtp_parse_mail_rcpt(cmd.arg, "TO", utf8, &a, &params,
		    &why) == SMTP_P_OK && a.null)
			__builtin_trap();	/* <> is never a recipient */
		smtp_valid_domain(line, utf8);
	}
	return 0;
}
