# Outpost: one Makefile, explicit source lists.
#   make            release build: build/outpost
#   make asan       AddressSanitizer + UBSan build: build/asan/outpost
#   make test       unit and end-to-end tests against the sanitizer build
#   make unit | fuzz | e2e  one part of that

CC	?= cc
PYTHON	?= /usr/bin/python3

WARN	= -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes \
	  -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral
BASE_CFLAGS = -std=gnu11 -D_GNU_SOURCE $(WARN) -Isrc -Iinclude -MMD -MP
REL_CFLAGS  = -O2 -g
ASAN_CFLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	      -fno-sanitize-recover=all
LIBS	= -levent_openssl -levent -lcares -lssl -lcrypto -lpthread -ldl -lm
# Plugins loaded at run time resolve the op_* API from the executable.
EXPORTS	= '-Wl,--export-dynamic-symbol=op_*'

LIB_SRCS = src/lib/xmalloc.c src/lib/buf.c src/lib/ini.c src/lib/json.c \
	   src/lib/util.c src/lib/fsutil.c
CORE_SRCS = src/config.c src/config_intervals.c src/log.c src/plugin.c \
	    src/smtp_parse.c src/queue_fs.c \
	    src/queue.c src/smtp_server.c src/smtp_session.c src/smtp_auth.c \
	    src/smtp_tx.c \
	    src/tls.c src/defaults.c src/plugins/builtin.c \
	    src/plugins/relay.c src/plugins/auth_flat_file.c src/plugins/tls.c \
	    src/reply.c src/mx.c src/dns.c src/message.c src/bounce.c \
	    src/mta_session.c src/mta_error.c src/mta.c src/scheduler.c \
	    src/plugins/smtp_forward.c src/bouncecat.c src/recwriter.c \
	    src/plugins/record.c src/plugins/outbound_logger.c \
	    src/plugins/accounting_files.c
MAIN_SRCS = src/main.c
DEFAULT_FILES = config/plugins config/smtp.ini config/log.ini \
	config/outbound.ini config/connection.ini config/relay.ini \
	config/relay_acl_allow config/tls.ini config/auth_flat_file.ini \
	config/outbound.bounce_message config/net-utils.ini \
	config/smtp_forward.ini config/outbound_logger.ini \
	config/accounting_files.ini config/bounce_categories

UNIT_TESTS = test_ini test_config test_log test_plugin test_smtp_parse \
	     test_queue_fs test_smtp_tx test_reply test_mx test_bounce \
	     test_mta_error test_bouncecat test_recwriter

GEN	= build/gen/defaults_data.c
SRCS	= $(LIB_SRCS) $(CORE_SRCS)

REL_OBJS  = $(SRCS:%.c=build/rel/%.o) build/rel/gen/defaults_data.o
ASAN_OBJS = $(SRCS:%.c=build/asan/%.o) build/asan/gen/defaults_data.o

.PHONY: all asan test unit e2e clean contrib
all: build/outpost
asan: build/asan/outpost

build/tools/embed: tools/embed.c
	@mkdir -p $(@D)
	$(CC) -O1 -Wall -Wextra -o $@ $<

$(GEN): build/tools/embed $(DEFAULT_FILES)
	@mkdir -p $(@D)
	build/tools/embed $@ $(DEFAULT_FILES)

build/rel/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(REL_CFLAGS) -c $< -o $@

build/asan/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(ASAN_CFLAGS) -c $< -o $@

build/rel/gen/defaults_data.o: $(GEN)
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(REL_CFLAGS) -c $< -o $@

build/asan/gen/defaults_data.o: $(GEN)
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(ASAN_CFLAGS) -c $< -o $@

build/outpost: $(REL_OBJS) build/rel/src/main.o
	$(CC) $(REL_CFLAGS) $(EXPORTS) -o $@ $^ $(LIBS)

build/asan/outpost: $(ASAN_OBJS) build/asan/src/main.o
	$(CC) $(ASAN_CFLAGS) $(EXPORTS) -o $@ $^ $(LIBS)

# Unit tests: cmocka, one binary per module, linked with the sanitizers.
build/asan/tests/unit/%: build/asan/tests/unit/%.o $(ASAN_OBJS)
	$(CC) $(ASAN_CFLAGS) $(EXPORTS) -o $@ $^ $(LIBS) -lcmocka

# Test plugins (shared objects) loaded by the end-to-end tests.
build/asan/tests/plugins/%.so: tests/plugins/%.c include/outpost/plugin.h
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(ASAN_CFLAGS) -fPIC -shared -o $@ $<

CONTRIB_PLUGINS = bounce_webhook
TEST_PLUGINS = build/asan/tests/plugins/log_capture.so \
	       build/asan/tests/plugins/queue_verdict.so \
	       build/asan/tests/plugins/outbound_hooks.so

unit: $(UNIT_TESTS:%=build/asan/tests/unit/%)
	@set -e; for t in $^; do echo "== $$t"; $$t; done

e2e: build/asan/outpost $(TEST_PLUGINS) $(CONTRIB_PLUGINS:%=build/asan/contrib/%.so)
	$(PYTHON) -m pytest -q tests/e2e

test: unit fuzz e2e

clean:
	rm -rf build

-include $(shell find build/rel build/asan -name '*.d' -type f 2>/dev/null)

# Fuzz targets (clang libFuzzer + ASan + UBSan); `make fuzz` runs each for
# FUZZ_SECONDS, starting from tests/fuzz/corpus/<target>/.
FUZZ_CC		= clang
FUZZ_SECONDS	?= 10
FUZZ_CFLAGS	= -std=gnu11 -D_GNU_SOURCE -g -O1 -Isrc -Iinclude \
		  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_TARGETS	= fuzz_smtp_parse fuzz_ini fuzz_queue_fs fuzz_reply
FUZZ_DEPS_fuzz_smtp_parse = src/smtp_parse.c src/lib/buf.c src/lib/json.c \
		  src/lib/xmalloc.c
FUZZ_DEPS_fuzz_ini = src/lib/ini.c src/lib/buf.c src/lib/xmalloc.c
FUZZ_DEPS_fuzz_reply = src/reply.c src/lib/buf.c src/lib/xmalloc.c
FUZZ_DEPS_fuzz_queue_fs = src/queue_fs.c src/log.c src/lib/buf.c src/lib/fsutil.c \
		  src/lib/json.c src/lib/xmalloc.c

.SECONDEXPANSION:
build/fuzz/%: tests/fuzz/%.c $$(FUZZ_DEPS_$$*)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $^

.PHONY: fuzz
fuzz: $(FUZZ_TARGETS:%=build/fuzz/%)
	@set -e; for t in $(FUZZ_TARGETS); do \
		mkdir -p build/fuzz/corpus-$$t; \
		echo "== $$t ($(FUZZ_SECONDS)s)"; \
		build/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) \
		    build/fuzz/corpus-$$t tests/fuzz/corpus/$$t \
		    > build/fuzz/$$t.log 2>&1 || { cat build/fuzz/$$t.log; exit 1; }; \
		grep '^Done' build/fuzz/$$t.log; \
	done

# Example external plugins (contrib/<name>/<name>.c), built only against the
# public header and libevent: `make contrib` builds them for the release
# build; the end-to-end tests load the sanitizer builds.
contrib: $(CONTRIB_PLUGINS:%=build/contrib/%.so)
build/contrib/%.so: contrib/$$*/$$*.c include/outpost/plugin.h
	@mkdir -p $(@D)
	$(CC) -std=gnu11 $(WARN) -Iinclude $(REL_CFLAGS) -fPIC -shared -o $@ $< -levent
build/asan/contrib/%.so: contrib/$$*/$$*.c include/outpost/plugin.h
	@mkdir -p $(@D)
	$(CC) -std=gnu11 $(WARN) -Iinclude $(ASAN_CFLAGS) -fPIC -shared -o $@ $< -levent
