/* libFuzzer target: ini, flat and list configuration files. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "lib/ini.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ini *ini = ini_parse("fuzz.ini", (const char *)data, size,
	    NULL, NULL);
	const char *const *v;
	long long i;
	double d;
	size_t n;

	for (size_t s = 0; s < ini_nsections(ini); s++) {
		const char *sect = ini_section_name(ini, s);

		for (size_t k = 0; k < ini_nkeys(ini, sect); k++) {
			const char *key = ini_key_name(ini, sect, k);

			ini_get(ini, sect, key);
			ini_array(ini, sect, key, &v);
			ini_bool(ini, sect, key, 0);
			ini_int(ini, sect, key, &i);
			ini_num(ini, sect, key, &d);
		}
	}
	ini_free(ini);
	free(flat_value_parse((const char *)data, size));
	flat_list_free(flat_list_parse((const char *)data, size, &n));
	return 0;
}
