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

PKGS     := libpq libconfig uuid libcrypto
CFLAGS   += -std=c17 -Wall -Wextra -Werror -O2 -g -D_POSIX_C_SOURCE=200809L \
            -DLETHE_VERSION='"$(VERSION)"' -Iengine -Ijobs -I$(BUILD) $(SANFLAGS) \
            $(shell pkg-config --cflags $(PKGS) 2>/dev/null) -I$(shell pg_config --includedir 2>/dev/null || echo /usr/include/postgresql)
LDLIBS   += $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lpq -lconfig -luuid -lcrypto)
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

.PHONY: all deps check unit integration demo demo-clean bench install clean
all: deps $(LETHE) $(BUILD)/bin/fs-delete bin/lethe

deps:
	@./deploy/install-deps.sh

bin/lethe: $(LETHE)
	@mkdir -p bin
	@if [ "$(BUILD)" = build ]; then cp $(LETHE) bin/lethe; fi

$(BUILD)/%.o: %.c $(wildcard engine/*.h jobs/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# The migrations are embedded, so `lethe migrate` needs no files on disk.
$(BUILD)/migrations.c: $(SQL_SRC) tests/harness/embed-sql.sh
	@mkdir -p $(BUILD)
	./tests/harness/embed-sql.sh $(SQL_SRC) > $@.tmp && mv $@.tmp $@

$(BUILD)/migrations.o: $(BUILD)/migrations.c
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libengine.a: $(ENGINE_OBJ)
	rm -f $@ && ar rcs $@ $^

$(LETHE): $(JOBS_OBJ) $(BUILD)/libengine.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(JOBS_OBJ) $(BUILD)/libengine.a $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libengine.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libengine.a $(LDLIBS) $(CHECKLIBS)

unit: deps $(UNIT_BIN)
	@./tests/harness/run-unit.sh $(UNIT_BIN)

integration: deps $(LETHE) $(BUILD)/bin/fs-delete
	@LETHE=$(abspath $(LETHE)) ./tests/harness/run-integration.sh

# Unit suites first, then the integration suites against a throwaway PostgreSQL.
check: deps $(LETHE) $(BUILD)/bin/fs-delete $(UNIT_BIN)
	@LETHE=$(abspath $(LETHE)) ./tests/harness/check.sh $(UNIT_BIN)

demo: deps $(LETHE) bin/lethe
	@./deploy/demo.sh

demo-clean:
	@./deploy/demo.sh clean

bench: deps $(LETHE) bin/lethe
	@LETHE=$(abspath $(LETHE)) ./tests/bench/bench.sh

# The fs-delete executor (deploy/executors/fs-delete.c) stands alone: it shares no code with the
# engine and links only jansson. It is built next to lethe, where the integration suites find it.
JANSSON_CFLAGS = $(shell pkg-config --cflags jansson 2>/dev/null)
JANSSON_LIBS   = $(shell pkg-config --libs jansson 2>/dev/null || echo -ljansson)

$(BUILD)/bin/fs-delete: deploy/executors/fs-delete.c
	@mkdir -p $(dir $@)
	$(CC) -std=c17 -Wall -Wextra -Werror -O2 -g $(SANFLAGS) $(JANSSON_CFLAGS) $(LDFLAGS) \
	    -o $@ $< $(JANSSON_LIBS)

install: $(LETHE)
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(LETHE) $(DESTDIR)$(PREFIX)/bin/lethe

clean:
	rm -rf build build-san bin
