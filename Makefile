# worldstate — PGXS build.
#
# `make demo` and `make test` first run test/deps.sh (which installs the
# Debian packages PostgreSQL 15 needs when they are missing), so both work on
# a machine where pg_config does not exist yet; the rest of this file only
# includes PGXS once the server development files are there.

EXTENSION = worldstate
MODULE_big = worldstate
OBJS = \
	src/worldstate.o \
	src/settings.o \
	src/hlc.o \
	src/clock.o \
	src/stats.o \
	src/util.o \
	src/lookup.o \
	src/tables.o \
	src/canon.o \
	src/kindcache.o \
	src/module.o \
	src/transition.o \
	src/writer.o \
	src/snapshot.o \
	src/converge.o \
	src/stable.o \
	src/merge_patch.o \
	src/hlc_parse.o \
	src/vclock.o \
	src/vclock_parse.o \
	src/broadcast.o \
	src/decoder.o \
	src/worker.o \
	src/query.o \
	src/reader.o \
	src/fold.o \
	src/bus.o \
	src/session.o \
	src/derived.o \
	src/horizon.o \
	src/progress.o \
	src/args.o \
	src/spi.o \
	src/definitions.o \
	src/replication.o \
	src/graph.o \
	src/reconcile.o

# libpq, for the connections of ws.add_peer and ws.remove_peer to a peer
# (src/replication.c).  Its header is where pg_config says, or else where
# Debian's libpq-dev (which postgresql-server-dev-15 depends on) puts it.
SHLIB_LINK_INTERNAL = $(libpq)
override PG_CPPFLAGS += -I$(libpq_srcdir) $(if $(wildcard $(libpq_srcdir)/libpq-fe.h),,-I/usr/include/postgresql)

DATA = sql/worldstate--1.0.sql sql/worldstate--1.0--1.1.sql sql/worldstate--1.1.sql

# pg_regress suites (sql/NAME.sql, expected/NAME.out), run in one database
# where the extension is already created.
REGRESS = hlc hlc_errors hlc_order hlc_rules hlc_clock vclock settings \
	merge_patch transition transition_rfc7396 transition_errors \
	transition_security snapshot decode_basic decode_modules decode_kinds \
	decode_messages decode_include_state decode_include_xids decode_pretty \
	decode_format_version decode_options_errors decode_json_fidelity \
	decode_rejected decode_savepoint decode_twophase decode_heartbeat \
	query_point query_entities_at query_find query_history query_neighbors \
	query_merge_patches query_archive query_errors query_random_histories \
	event_schema bus bus_errors session_state derived

# 1.1: events and queries
REGRESS += events_actor transition_limits query_timestamptz progress

# 1.1: privileges and catalog
REGRESS += module_tiers module_catalog

# 1.1: caller SQL and resources
REGRESS += derived_security snapshot_isolation caller_bounds

# 1.1: scan marks of the event bus
REGRESS += bus_scan

# 1.1: broadcast integrity
REGRESS += decode_forged

# 1.1: the fold and the reader
REGRESS += fold_stream

# 1.1: one entity changed many times in one transaction
REGRESS += transition_hot

# 1.1: recovery from a snapshot
REGRESS += restore_verify

# 1.1: the world at a past HLC from the nearest snapshot
REGRESS += query_entities_at_snapshot

# 1.1: the writer's index descriptions, kept between changes
REGRESS += transition_indexes

# 1.1: convergence of several nodes' events
REGRESS += converge converge_apply

# 1.1: the stable past
REGRESS += stable_hlc

# 1.1: definitions
REGRESS += definitions

# 1.1: intent and arrival
REGRESS += events_intent bus_arrival decode_local_only

# 1.1: keyframes
REGRESS += keyframes

# 1.1: several nodes: the peers
REGRESS += peers_errors

# 1.1: strong changes: the home node and synchronous peers
REGRESS += strong_errors

# 1.1: a picture of causal history
REGRESS += causal_graph

# 1.1: reconciliation
REGRESS += reconcile reconcile_errors

# 1.1: the README's examples

# 1.1: causal buffering
REGRESS += causal_buffer

REGRESS_OPTS = --load-extension=worldstate

# Isolation specs live in test/isolation/{specs,expected}.
ISOLATION = hlc_now_concurrent transition_version_race transition_blind_writes \
	transition_many_order transition_same_event_id create_concurrent \
	snapshot_concurrent history_committed bus_safe_horizon bus_two_pollers \
	progress_restore progress_archive
# 1.1: privileges and catalog
ISOLATION += constraint_concurrent
# 1.1: one writer
ISOLATION += create_repeatable_read
# 1.1: one entity changed many times in one transaction
ISOLATION += transition_hot_savepoint
# 1.1: scan marks of the event bus
ISOLATION += bus_scan_horizon
ISOLATION_OPTS = --inputdir=test/isolation --load-extension=worldstate

# Compiler flags.  Flags the user gives are kept and come first: PG_CFLAGS
# on the command line or in the environment (make PG_CFLAGS=-O0), and
# CFLAGS from the environment (which PostgreSQL's Makefile.global would
# otherwise replace by the server's); the warnings below are always added.
# ASSERTS=1 builds with USE_ASSERT_CHECKING (Assert in this extension and
# in the server headers' inline functions), which make test also does once.
WS_ENV_CFLAGS := $(if $(filter environment,$(origin CFLAGS)),$(CFLAGS))
override PG_CFLAGS += $(WS_ENV_CFLAGS) -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers
ifneq ($(filter-out 0,$(ASSERTS)),)
override PG_CPPFLAGS += -DUSE_ASSERT_CHECKING
endif
EXTRA_CLEAN = tmp results output_iso regression.diffs regression.out log

# Debian's PostgreSQL 15; any pg_config on PATH otherwise.  One given on the
# command line or in the environment is passed on to the test and demo
# scripts, so they use the same installation.
ifneq ($(filter command line environment,$(origin PG_CONFIG)),)
export PG_CONFIG
endif
PG_CONFIG ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config)
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)

ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
else
all:
	@echo "PostgreSQL server development files are missing: run 'make deps' (or 'make demo' / 'make test', which do it)." >&2
	@exit 1
endif

.PHONY: deps demo demo-cluster test fuzz bench valgrind check-layers

deps:
	@test/deps.sh

# The two commands of the README.  Each re-enters make after deps so that
# PGXS is included with the freshly installed pg_config.
demo: deps
	@$(MAKE) --no-print-directory all
	@test/install.sh $(MAKE)
	@test/demo.sh $(if $(KEEP),--keep)

# Three nodes: a partition, concurrent writes, the heal, convergence, and
# the picture of the causal history they made (test/demo-cluster.sh).
demo-cluster: deps
	@$(MAKE) --no-print-directory all
	@test/install.sh $(MAKE)
	@test/demo-cluster.sh $(if $(KEEP),--keep)

test: deps
	@$(MAKE) --no-print-directory all
	@test/install.sh $(MAKE)
	@test/run-tests.sh

fuzz: deps
	@test/fuzz/run.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@test/install.sh $(MAKE)
	@test/bench/run.sh $(BENCH)

# The pg_regress suite with the server under valgrind (test/valgrind.sh);
# slow, not part of make test.
valgrind: deps
	@$(MAKE) --no-print-directory all
	@test/install.sh $(MAKE)
	@test/valgrind.sh

# The layers of src/ (src/LAYERS, README.md's Development section): no
# include climbs a layer or closes a circle (test/layers.pl; make test
# runs it too).  Needs no server.
check-layers:
	@perl test/layers.pl
