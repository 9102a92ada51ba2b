# Outpost: one Makefile, explicit source lists.
#   make            release build: build/outpost
#   make asan       AddressSanitizer + UBSan build: build/asan/outpost
#   make test       unit and end-to-end tests against the sanitizer build
#   make layers | unit | fuzz | e2e  one part of that

CC	?= cc
PYTHON	?= /usr/bin/python3

WARN	= -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes \
	  -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral
BASE_CFLAGS = -std=gnu11 -D_GNU_SOURCE $(WARN) -Isrc -Iinclude -MMD -MP
REL_CFLAGS  = -O2 -g
# The sanitizer build is the test build: it has the crash points of
# lib/failpoint.h compiled in (the release build has none).
ASAN_CFLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	      -fno-sanitize-recover=all -DOUTPOST_FAILPOINTS
LIBS	= -levent_openssl -levent -lcares -lssl -lcrypto -lpthread -ldl -lm \
	  -lidn2 $(shell pkg-config --libs libunbound) \
	  $(shell pkg-config --libs jansson)
# Cluster-wide shaping talks to Redis with hiredis (docs/architecture.md).
LIBS	+= -lhiredis
# MTA-STS policies are fetched over HTTPS with libcurl (docs/architecture.md).
LIBS	+= $(shell pkg-config --libs libcurl 2>/dev/null || echo -lcurl)
# Feedback reports (bounces, ARF) are MIME-parsed with GMime 3
# (docs/architecture.md); its headers only for proto/fbreport.c, as system
# headers (glib's do not pass our warnings).
GMIME_CFLAGS = $(patsubst -I%,-isystem %,$(shell pkg-config --cflags gmime-3.0))
GMIME_LIBS = $(shell pkg-config --libs gmime-3.0)
LIBS	+= $(GMIME_LIBS)
build/rel/src/proto/fbreport.o build/asan/src/proto/fbreport.o: \
    BASE_CFLAGS += $(GMIME_CFLAGS)
# The suppression list is an LMDB environment (docs/architecture.md).
LIBS	+= -llmdb
# amqp_events publishes to RabbitMQ with librabbitmq (docs/architecture.md).
LIBS	+= $(shell pkg-config --libs librabbitmq 2>/dev/null || echo -lrabbitmq)
# Plugins loaded at run time resolve the op_* API from the executable.
EXPORTS	= '-Wl,--export-dynamic-symbol=op_*'

# One list per folder, in the order the layers stack (docs/architecture.md;
# tools/check_layers.py enforces it).
LIB_SRCS = src/lib/xmalloc.c src/lib/buf.c src/lib/ini.c src/lib/json.c \
	   src/lib/util.c src/lib/fsutil.c src/lib/netmatch.c \
	   src/lib/penalty.c src/lib/failpoint.c src/lib/crc32c.c \
	   src/lib/rate.c src/lib/slashre.c src/lib/idn.c src/lib/shmtab.c \
	   src/lib/anvil.c src/lib/gate.c
PROTO_SRCS = src/proto/smtp_parse.c src/proto/reply.c src/proto/message.c \
	     src/proto/mtasts_policy.c src/proto/dkim_canon.c \
	     src/proto/fbreport.c src/proto/fbreport_text.c
CORE_SRCS = src/core/config.c src/core/config_intervals.c src/core/config_log.c \
	    src/core/log.c \
	    src/core/tls.c src/core/defaults.c src/core/dns_config.c src/core/config_keys.c \
	    src/core/space.c src/core/daemon.c src/core/shaping.c \
	    src/core/shaping_rules.c src/core/vmta.c src/core/notify.c \
	    src/core/metrics.c src/core/dkim_keys.c src/core/dkim_keygen.c \
	    src/core/suppress.c src/core/suppress_writer.c src/core/verp.c \
	    src/core/nodes.c src/core/worker.c
PLUGINS_SRCS = src/plugins/registry.c src/plugins/hooks.c src/plugins/abi.c \
	       src/plugins/load.c src/plugins/haraka_names.c
QUEUE_SRCS = src/queue/entry.c src/queue/qentry.c src/queue/entry_file.c \
	     src/queue/scan.c src/queue/report.c src/queue/queue.c \
	     src/queue/submit.c src/queue/space.c src/queue/body.c \
	     src/queue/refs.c src/queue/dkim_sign.c src/queue/dkim_worker.c
SMTP_SRCS = src/smtp/policy.c src/smtp/server.c src/smtp/session.c \
	    src/smtp/conn.c src/smtp/commands.c src/smtp/accept.c \
	    src/smtp/auth.c src/smtp/data.c src/smtp/accept_pool.c
DELIVERY_SRCS = src/delivery/scheduler.c src/delivery/mta.c \
		src/delivery/attempt.c src/delivery/route.c src/delivery/mx.c \
		src/delivery/dns.c src/delivery/dns_answer.c \
		src/delivery/pool.c src/delivery/client.c \
		src/delivery/client_session.c src/delivery/client_conn.c \
		src/delivery/client_tls.c src/delivery/client_auth.c \
		src/delivery/mta_error.c src/delivery/view.c \
		src/delivery/verdict.c src/delivery/dsn.c \
		src/delivery/dsn_send.c src/delivery/inject.c \
		src/delivery/shaper.c src/delivery/attempt_shape.c \
		src/delivery/shaper_file.c src/delivery/attempt_source.c \
		src/delivery/attempt_txn.c src/delivery/attempt_metrics.c \
		src/delivery/smtputf8.c src/delivery/dane.c \
		src/delivery/dane_policy.c src/delivery/dane_attempt.c \
		src/delivery/tlsrpt.c src/delivery/mtasts.c \
		src/delivery/attempt_sts.c src/delivery/https.c \
		src/delivery/mta_admin.c src/delivery/mta_filter.c \
		src/delivery/attempt_suppress.c src/delivery/attempt_route.c \
		src/delivery/cluster.c src/delivery/cluster_conf.c \
		src/delivery/cluster_lua.c src/delivery/cluster_gate.c
RECORDS_SRCS = src/records/writer.c src/records/rotation.c \
	       src/records/bouncecat.c \
	       src/records/record.c src/records/outbound_logger.c \
	       src/records/accounting_files.c src/records/space.c \
	       src/records/backlog.c src/records/acct_fields.c \
	       src/records/amqp_spool.c src/records/amqp_link.c \
	       src/records/amqp_conn.c src/records/amqp_record.c
BUILTINS_SRCS = src/builtins/builtin.c src/builtins/relay.c \
		src/builtins/auth_flat_file.c src/builtins/tls.c \
		src/builtins/smtp_forward.c src/builtins/dkim.c \
		src/builtins/mail_from_is_resolvable.c \
		src/builtins/rcpt_to_in_host_list.c src/builtins/suppression.c \
		src/builtins/amqp_events.c
ADMIN_SRCS = src/admin/http.c src/admin/api_status.c src/admin/metrics.c \
	     src/admin/status_page.c src/admin/api_json.c \
	     src/admin/api_queue.c src/admin/api_dest.c src/admin/api_inject.c \
	     src/admin/routes.c src/admin/api_suppress.c \
	     src/admin/fanout.c src/admin/fanout_merge.c \
	     src/admin/fanout_metrics.c
FEEDBACK_SRCS = src/feedback/feedback.c src/feedback/fbconf.c \
		src/feedback/spool.c src/feedback/correlate.c
REPORT_SRCS = src/report/parse.c src/report/parse_json.c src/report/stats.c \
	      src/report/text.c src/report/html.c src/report/files.c \
	      src/report/read.c src/report/report.c
MAIN_SRCS = src/main.c src/root.c src/start.c src/reload.c src/shutdown.c
# outpost-sendmail: its own program, with the few lib/ files it needs.
SENDMAIL_SRCS = src/sendmail/main.c src/sendmail/message.c \
		src/sendmail/smtp.c src/lib/xmalloc.c src/lib/buf.c \
		src/lib/ini.c
DEFAULT_FILES = config/plugins config/smtp.ini config/log.ini \
	config/outbound.ini config/connection.ini config/relay.ini \
	config/relay_acl_allow config/tls.ini config/auth_flat_file.ini \
	config/outbound.bounce_message config/net-utils.ini \
	config/smtp_forward.ini config/outbound_logger.ini \
	config/accounting_files.ini config/bounce_categories \
	config/shaping.ini config/shaping_rules config/pools.ini \
	config/http.ini config/dkim.ini config/mail_from.is_resolvable.ini \
	config/suppression.ini config/cluster.ini config/feedback.ini \
	config/amqp_events.ini

# Unit tests mirror src/: tests/unit/<folder>/test_<module>.c
UNIT_TESTS = lib/test_ini lib/test_netmatch lib/test_penalty lib/test_rate \
	     lib/test_fsutil lib/test_util \
	     lib/test_idn \
	     proto/test_smtp_parse proto/test_reply proto/test_mtasts_policy \
	     proto/test_dkim_canon proto/test_fbreport \
	     core/test_config core/test_config_keys core/test_dns_config core/test_log \
	     core/test_space core/test_daemon core/test_shaping core/test_vmta \
	     core/test_metrics core/test_dkim_keys core/test_notify core/test_verp \
	     core/test_suppress core/test_nodes builtins/test_suppression feedback/test_correlate \
	     plugins/test_plugin \
	     queue/test_entry queue/test_salvage queue/test_submit \
	     queue/test_body queue/test_queue queue/test_dkim_sign \
	     smtp/test_data \
	     smtp/test_policy delivery/test_mx delivery/test_route \
	     delivery/test_pool delivery/test_client_auth delivery/test_client \
	     delivery/test_mta_error delivery/test_view delivery/test_dsn \
	     delivery/test_scheduler delivery/test_shaper \
	     delivery/test_shaper_file delivery/test_smtputf8 delivery/test_dane \
	     delivery/test_tlsrpt delivery/test_mta_filter \
	     delivery/test_cluster_conf delivery/test_cluster_gate \
	     records/test_bouncecat records/test_writer records/test_backlog \
	     records/test_feedback records/test_rotation \
	     report/test_parse report/test_stats sendmail/test_message
UNIT_TESTS += records/test_amqp_spool
UNIT_TESTS += lib/test_anvil lib/test_gate

GEN	= build/gen/defaults_data.c
SRCS	= $(LIB_SRCS) $(PROTO_SRCS) $(CORE_SRCS) $(PLUGINS_SRCS) $(QUEUE_SRCS) \
	  $(SMTP_SRCS) $(DELIVERY_SRCS) $(RECORDS_SRCS) $(BUILTINS_SRCS) \
	  $(ADMIN_SRCS) $(FEEDBACK_SRCS) \
	  $(REPORT_SRCS)

REL_OBJS  = $(SRCS:%.c=build/rel/%.o) build/rel/gen/defaults_data.o
ASAN_OBJS = $(SRCS:%.c=build/asan/%.o) build/asan/gen/defaults_data.o

.PHONY: all asan test layers unit e2e e2e-nodes clean contrib deb
all: build/outpost build/outpost-sendmail build/outpostctl
asan: build/asan/outpost build/asan/outpost-sendmail build/asan/outpostctl

# outpostctl: the admin API's command-line client (src/ctl/), alone: libc
# and jansson (blocking sockets, HTTP/1.1 by hand).
CTL_SRCS = src/ctl/outpostctl.c src/ctl/ctl_http.c src/ctl/ctl_show.c \
	   src/ctl/ctl_suppress.c
build/outpostctl: $(CTL_SRCS:%.c=build/rel/%.o)
	$(CC) $(REL_CFLAGS) -o $@ $^ $(shell pkg-config --libs jansson)
build/asan/outpostctl: $(CTL_SRCS:%.c=build/asan/%.o)
	$(CC) $(ASAN_CFLAGS) -o $@ $^ $(shell pkg-config --libs jansson)

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

build/outpost: $(REL_OBJS) $(MAIN_SRCS:%.c=build/rel/%.o)
	$(CC) $(REL_CFLAGS) $(EXPORTS) -o $@ $^ $(LIBS)

build/asan/outpost: $(ASAN_OBJS) $(MAIN_SRCS:%.c=build/asan/%.o)
	$(CC) $(ASAN_CFLAGS) $(EXPORTS) -o $@ $^ $(LIBS)

build/outpost-sendmail: $(SENDMAIL_SRCS:%.c=build/rel/%.o)
	$(CC) $(REL_CFLAGS) -o $@ $^

build/asan/outpost-sendmail: $(SENDMAIL_SRCS:%.c=build/asan/%.o)
	$(CC) $(ASAN_CFLAGS) -o $@ $^

# Unit tests: cmocka, one binary per module, linked with the sanitizers.
build/asan/tests/unit/%.o: BASE_CFLAGS += -Itests/unit
build/asan/tests/unit/%: build/asan/tests/unit/%.o $(ASAN_OBJS)
	$(CC) $(ASAN_CFLAGS) $(EXPORTS) -o $@ $^ $(LIBS) -lcmocka

build/asan/tests/unit/sendmail/test_message: \
    build/asan/tests/unit/sendmail/test_message.o \
    $(filter-out build/asan/src/sendmail/main.o,$(SENDMAIL_SRCS:%.c=build/asan/%.o))
	$(CC) $(ASAN_CFLAGS) -o $@ $^ -lcmocka

# Test plugins (shared objects) loaded by the end-to-end tests.
build/asan/tests/plugins/%.so: tests/plugins/%.c include/outpost/plugin.h
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(ASAN_CFLAGS) -fPIC -shared -o $@ $<

# amqp_drain: the end-to-end tests' RabbitMQ consumer (librabbitmq).
build/asan/tests/bin/amqp_drain: tests/bin/amqp_drain.c
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(ASAN_CFLAGS) -o $@ $< -lrabbitmq

CONTRIB_PLUGINS = bounce_webhook
TEST_PLUGINS = build/asan/tests/plugins/log_capture.so \
	       build/asan/tests/plugins/queue_verdict.so \
	       build/asan/tests/plugins/outbound_hooks.so \
	       build/asan/tests/plugins/dkim_choose.so \
	       build/asan/tests/plugins/feedback_capture.so

unit: $(UNIT_TESTS:%=build/asan/tests/unit/%)
	@set -e; for t in $^; do echo "== $$t"; $$t; done

E2E_DEPS = build/asan/outpost build/asan/outpost-sendmail build/asan/outpostctl $(TEST_PLUGINS) build/asan/tests/bin/amqp_drain $(CONTRIB_PLUGINS:%=build/asan/contrib/%.so)

e2e: $(E2E_DEPS)
	$(PYTHON) -m pytest -q tests/e2e

# The same suite with every daemon as smtp.ini nodes=2 (a supervisor and two
# worker processes); the few tests of the single process itself are skipped
# with their reason printed.
e2e-nodes: $(E2E_DEPS)
	OUTPOST_TEST_NODES=2 $(PYTHON) -m pytest -q -rs tests/e2e

# The shape of src/ (tools/check_layers.py: layer order, no include cycle,
# no .c over 800 lines, a header comment on each), and the checker's own tests.
layers:
	$(PYTHON) tools/check_layers.py
	$(PYTHON) -m pytest -q tests/tools

test: layers unit fuzz e2e e2e-nodes

# The Debian package (scripts/mkdeb.sh: dpkg-deb only): build/outpost_*.deb
deb: build/outpost build/outpost-sendmail build/outpostctl
	scripts/mkdeb.sh build

clean:
	rm -rf build

-include $(shell find build/rel build/asan -name '*.d' -type f 2>/dev/null)

# Fuzz targets (clang libFuzzer + ASan + UBSan), one per parser of outside
# input, each with its oracles (tests/fuzz/<target>.c says which) and a seed
# corpus in tests/fuzz/corpus/<target>/. `make fuzz` (part of `make test`)
# runs each for FUZZ_SECONDS; scripts/fuzz.sh MINUTES runs them longer.
FUZZ_CC		= clang
FUZZ_SECONDS	?= 10
FUZZ_CFLAGS	= -std=gnu11 -D_GNU_SOURCE $(WARN) -g -O1 -Isrc -Iinclude \
		  -Itests/fuzz -fsanitize=fuzzer,address,undefined \
		  -fno-sanitize-recover=all
# Any header change rebuilds them (one command compiles and links a target).
FUZZ_HEADERS	= $(wildcard src/*/*.h) include/outpost/plugin.h tests/fuzz/fuzz.h
FUZZ_TARGETS	= fuzz_smtp_parse fuzz_ini fuzz_queue_fs fuzz_reply \
		  fuzz_client_reply fuzz_client_auth fuzz_data fuzz_message \
		  fuzz_netmatch fuzz_intervals fuzz_bouncecat \
		  fuzz_bouncecat_rules fuzz_accounting fuzz_mtasts_policy fuzz_report \
		  fuzz_dkim_canon fuzz_fbreport fuzz_suppress
FUZZ_BASE	= src/lib/buf.c src/lib/xmalloc.c
FUZZ_LOG	= src/core/log.c src/lib/json.c src/lib/fsutil.c \
		  src/core/worker.c src/lib/util.c
FUZZ_DEPS_fuzz_smtp_parse = src/proto/smtp_parse.c src/lib/json.c $(FUZZ_BASE)
FUZZ_DEPS_fuzz_ini = src/lib/ini.c $(FUZZ_BASE)
FUZZ_DEPS_fuzz_reply = src/proto/reply.c $(FUZZ_BASE)
FUZZ_DEPS_fuzz_queue_fs = src/queue/entry.c src/queue/qentry.c \
			  src/lib/crc32c.c $(FUZZ_BASE)
FUZZ_DEPS_fuzz_client_reply = src/delivery/client_conn.c src/proto/reply.c \
		  src/core/metrics.c $(FUZZ_LOG) $(FUZZ_BASE)
FUZZ_LIBS_fuzz_client_reply = -levent -lpthread -lm -lcrypto
FUZZ_DEPS_fuzz_client_auth = src/delivery/client_auth.c src/lib/util.c \
		  $(FUZZ_BASE)
FUZZ_LIBS_fuzz_client_auth = -lcrypto
FUZZ_DEPS_fuzz_data = src/smtp/data.c src/lib/util.c $(FUZZ_BASE)
FUZZ_LIBS_fuzz_data = -lcrypto
FUZZ_DEPS_fuzz_message = src/proto/message.c src/lib/util.c $(FUZZ_BASE)
FUZZ_LIBS_fuzz_message = -lcrypto
FUZZ_DEPS_fuzz_netmatch = src/lib/netmatch.c $(FUZZ_BASE)
FUZZ_DEPS_fuzz_mtasts_policy = src/proto/mtasts_policy.c $(FUZZ_BASE)
FUZZ_DEPS_fuzz_dkim_canon = src/proto/dkim_canon.c $(FUZZ_BASE)
FUZZ_DEPS_fuzz_fbreport = src/proto/fbreport.c src/proto/fbreport_text.c \
		  $(FUZZ_BASE)
FUZZ_LIBS_fuzz_fbreport = $(GMIME_LIBS) -lpthread
build/fuzz/fuzz_fbreport: FUZZ_CFLAGS += $(GMIME_CFLAGS)
FUZZ_DEPS_fuzz_intervals = src/core/config_intervals.c $(FUZZ_LOG) \
		  $(FUZZ_BASE)
FUZZ_LIBS_fuzz_intervals = -lm -lcrypto
FUZZ_DEPS_fuzz_bouncecat = src/records/bouncecat.c src/lib/slashre.c $(FUZZ_BASE)
# White box: these two compile the module under test into themselves
# (#include of the .c, for its static functions): FUZZ_WB_, not linked.
FUZZ_WB_fuzz_bouncecat_rules = src/records/bouncecat.c
FUZZ_DEPS_fuzz_bouncecat_rules = src/lib/slashre.c $(FUZZ_BASE)
FUZZ_WB_fuzz_accounting = src/records/acct_fields.c
FUZZ_DEPS_fuzz_accounting = src/records/bouncecat.c src/lib/slashre.c \
		  src/records/record.c src/records/writer.c \
		  src/records/rotation.c src/records/backlog.c src/proto/message.c \
		  src/core/metrics.c \
		  src/lib/ini.c $(FUZZ_LOG) $(FUZZ_BASE)
FUZZ_LIBS_fuzz_accounting = -levent -lpthread -lcrypto -lm
FUZZ_DEPS_fuzz_report = src/report/parse.c src/report/parse_json.c \
		  src/lib/json.c $(FUZZ_BASE)
FUZZ_DEPS_fuzz_suppress = src/core/suppress.c $(FUZZ_BASE)
FUZZ_LIBS_fuzz_suppress = -llmdb

.SECONDEXPANSION:
build/fuzz/%: tests/fuzz/%.c $$(FUZZ_DEPS_$$*) $$(FUZZ_WB_$$*) $(FUZZ_HEADERS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(sort $(FUZZ_DEPS_$*)) $(FUZZ_LIBS_$*)

.PHONY: fuzz
fuzz: $(FUZZ_TARGETS:%=build/fuzz/%)
	FUZZ_NO_BUILD=1 scripts/fuzz.sh --each $(FUZZ_SECONDS) $(FUZZ_TARGETS)

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
