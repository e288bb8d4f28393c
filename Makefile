# lethe: build, test, demo, bench and install. Every target that needs packages installs the
# missing ones first (deploy/install-deps.sh), so a fresh Debian machine needs nothing by hand.

CC       ?= cc
PREFIX   ?= /usr/local
DESTDIR  ?=
VERSION  := 0.1.0

# BUILD may be overridden (make BUILD=build-x) to keep parallel work trees apart.
ifeq ($(SANITIZE),1)
BUILD    ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD    ?= build
SANFLAGS :=
endif

PKGS     := libpq libconfig uuid libcrypto jansson libsystemd
CFLAGS   += -std=c17 -Wall -Wextra -Werror -O2 -g -D_POSIX_C_SOURCE=200809L \
            -DLETHE_VERSION='"$(VERSION)"' -Iengine -Ijobs -I$(BUILD) $(SANFLAGS) \
            $(shell pkg-config --cflags $(PKGS) 2>/dev/null) -I$(shell pg_config --includedir 2>/dev/null || echo /usr/include/postgresql)
LDLIBS   += $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lpq -lconfig -luuid -lcrypto -ljansson -lsystemd)
LDFLAGS  += $(SANFLAGS)
CHECKLIBS = $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lm -lrt -lpthread)

ENGINE_SRC := $(wildcard engine/*.c)
JOBS_SRC   := $(wildcard jobs/*.c)
SQL_SRC    := $(sort $(wildcard sql/[0-9][0-9][0-9][0-9]_*.sql))
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
ENGINE_OBJ := $(ENGINE_SRC:%.c=$(BUILD)/%.o) $(BUILD)/migrations.o
JOBS_OBJ   := $(JOBS_SRC:%.c=$(BUILD)/%.o)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
LETHE      := $(BUILD)/bin/lethe

.PHONY: FORCE all deps programs check check-citus unit integration demo demo-clean bench install clean
all: deps $(LETHE) $(BUILD)/bin/fs-delete bin/lethe

deps:
	@./deploy/install-deps.sh

bin/lethe: $(LETHE)
	@mkdir -p bin
	@if [ "$(BUILD)" = build ]; then cp $(LETHE) bin/lethe; fi

$(BUILD)/%.o: %.c $(wildcard engine/*.h jobs/*.h) | deps
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

# The migrations are embedded, so `lethe migrate` needs no files on disk. The list of their
# names is a prerequisite of its own, rewritten only when it changes, so that a migration
# renamed or removed rebuilds them too (a file's own date says nothing of that).
FORCE:

$(BUILD)/sql.list: FORCE
	@mkdir -p $(BUILD)
	@echo '$(SQL_SRC)' | cmp -s - $@ || echo '$(SQL_SRC)' > $@

$(BUILD)/migrations.c: $(SQL_SRC) $(BUILD)/sql.list tests/harness/embed-sql.sh
	@mkdir -p $(BUILD)
	./tests/harness/embed-sql.sh $(SQL_SRC) > $@.tmp && mv $@.tmp $@

$(BUILD)/migrations.o: $(BUILD)/migrations.c
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/libengine.a: $(ENGINE_OBJ)
	rm -f $@ && ar rcs $@ $^

$(LETHE): $(JOBS_OBJ) $(BUILD)/libengine.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(JOBS_OBJ) $(BUILD)/libengine.a $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libengine.a | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libengine.a $(LDLIBS) $(CHECKLIBS)

unit: deps $(UNIT_BIN)
	@./tests/harness/run-unit.sh $(UNIT_BIN)

# The suites run copies of the binaries (tests/harness/run-integration.sh); LETHE_BUILD names
# the build they came from, for the suites that install from it.
integration: deps $(LETHE) $(BUILD)/bin/fs-delete
	@LETHE=$(abspath $(LETHE)) LETHE_BUILD=$(abspath $(BUILD)) ./tests/harness/run-integration.sh

# The integration suites against a throwaway PostgreSQL, then the unit suites.
check: deps $(LETHE) $(BUILD)/bin/fs-delete $(UNIT_BIN)
	@LETHE=$(abspath $(LETHE)) LETHE_BUILD=$(abspath $(BUILD)) ./tests/harness/check.sh $(UNIT_BIN)

# The suites that matter against a Citus coordinator and two workers, and one catalog compared
# with a single server (tests/harness/citus.sh). Without Citus installed, says so and exits 0.
check-citus: deps $(LETHE) $(BUILD)/bin/fs-delete
	@LETHE=$(abspath $(LETHE)) LETHE_BUILD=$(abspath $(BUILD)) ./tests/harness/citus.sh

demo: deps $(LETHE) $(BUILD)/bin/fs-delete bin/lethe
	@./deploy/demo.sh

demo-clean:
	@./deploy/demo.sh clean

# make bench [BENCH_ITEMS=10000000] [BENCH_REPS=5]: lethe against bare SQL on a generated catalog,
# in a throwaway PostgreSQL with fsync on (tests/bench/README.md). Measures; asserts nothing.
BENCH_ITEMS ?= 1000000
BENCH_REPS  ?= 3
bench: deps $(LETHE) bin/lethe
	@BENCH_ITEMS=$(BENCH_ITEMS) BENCH_REPS=$(BENCH_REPS) LETHE=$(abspath $(LETHE)) ./tests/bench/bench.sh

# The fs-delete executor (deploy/executors/fs-delete.c) stands alone: it shares no code with the
# engine and links only jansson. It is built next to lethe, where the integration suites find it.
JANSSON_CFLAGS = $(shell pkg-config --cflags jansson 2>/dev/null)
JANSSON_LIBS   = $(shell pkg-config --libs jansson 2>/dev/null || echo -ljansson)

$(BUILD)/bin/fs-delete: deploy/executors/fs-delete.c | deps
	@mkdir -p $(dir $@)
	$(CC) -std=c17 -Wall -Wextra -Werror -O2 -g $(SANFLAGS) $(CPPFLAGS) $(USER_CFLAGS) $(JANSSON_CFLAGS) $(LDFLAGS) \
	    -o $@ $< $(JANSSON_LIBS)

# make install [PREFIX=/usr/local] [DESTDIR=]. Units go to $(PREFIX)/lib/systemd/system, which
# systemd searches for PREFIX=/usr and PREFIX=/usr/local alike; the example config goes to
# /etc/lethe/lethe.conf.example (never over an operator's lethe.conf). Any directory can be
# overridden (BINDIR=, LIBEXECDIR=, UNITDIR=, SYSCONFDIR=, MANDIR=, SYSUSERSDIR=, TMPFILESDIR=,
# COMPLETIONDIR=). The deploy files name the paths of a PREFIX=/usr install; they are rewritten
# here to the ones actually installed. debian/rules installs through this target too.
BINDIR        = $(PREFIX)/bin
LIBEXECDIR    = $(PREFIX)/libexec
UNITDIR       = $(PREFIX)/lib/systemd/system
SYSUSERSDIR   = $(PREFIX)/lib/sysusers.d
TMPFILESDIR   = $(PREFIX)/lib/tmpfiles.d
SYSCONFDIR    = /etc
MANDIR        = $(PREFIX)/share/man
DATADIR       = $(PREFIX)/share/lethe
COMPLETIONDIR = $(PREFIX)/share/bash-completion/completions
UNITS      = lethe-run.service lethe-run.timer lethe-run@.service lethe-run@.timer \
             lethe-export.service lethe-export.timer lethe-check.service lethe-check.timer
MANPAGES   = lethe.1 lethe.conf.5 fs-delete.8 lethe-export-month.8
INSTALL_SUBST = sed -e 's|/usr/bin/lethe|$(BINDIR)/lethe|g' \
                    -e 's|/usr/libexec/lethe/|$(LIBEXECDIR)/lethe/|g'

# Both programs, without `make deps` (a package build installs nothing).
programs: $(LETHE) $(BUILD)/bin/fs-delete

install: $(LETHE) $(BUILD)/bin/fs-delete
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR)/lethe $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(SYSCONFDIR)/lethe $(DESTDIR)$(DATADIR) $(DESTDIR)$(SYSUSERSDIR) \
	    $(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(COMPLETIONDIR) $(BUILD)/install \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(LETHE) $(DESTDIR)$(BINDIR)/lethe
	install -m 0755 $(BUILD)/bin/fs-delete $(DESTDIR)$(LIBEXECDIR)/lethe/fs-delete
	$(INSTALL_SUBST) deploy/lethe-export-month > $(BUILD)/install/lethe-export-month
	install -m 0755 $(BUILD)/install/lethe-export-month $(DESTDIR)$(LIBEXECDIR)/lethe/
	for u in $(UNITS); do \
	    $(INSTALL_SUBST) deploy/systemd/$$u > $(BUILD)/install/$$u && \
	    install -m 0644 $(BUILD)/install/$$u $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
	$(INSTALL_SUBST) deploy/lethe.conf > $(BUILD)/install/lethe.conf.example
	install -m 0644 $(BUILD)/install/lethe.conf.example $(DESTDIR)$(SYSCONFDIR)/lethe/
	for m in $(MANPAGES); do \
	    $(INSTALL_SUBST) deploy/$$m > $(BUILD)/install/$$m && \
	    install -m 0644 $(BUILD)/install/$$m $(DESTDIR)$(MANDIR)/man$${m##*.}/$$m || exit 1; \
	done
	install -m 0644 deploy/roles.sql $(DESTDIR)$(DATADIR)/roles.sql
	install -m 0644 deploy/sysusers.d/lethe.conf $(DESTDIR)$(SYSUSERSDIR)/lethe.conf
	install -m 0644 deploy/tmpfiles.d/lethe.conf $(DESTDIR)$(TMPFILESDIR)/lethe.conf
	install -m 0644 deploy/bash-completion/lethe $(DESTDIR)$(COMPLETIONDIR)/lethe

clean:
	rm -rf build build-san bin
