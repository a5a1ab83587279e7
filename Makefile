# kplane — build, test, run. `make run` and `make test` set the machine up first.

SANITIZE ?=
BUILD    ?= build$(if $(SANITIZE),-$(SANITIZE))
CC       ?= cc
# libcurl: the http sink (sinks/sink_http.c); librdkafka links it too, for OIDC.
PKGS     := libmicrohttpd jansson sqlite3 libcurl

OPT      ?= -O2
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wformat=2 -Wno-format-nonliteral
CFLAGS   += -std=c11 -D_GNU_SOURCE $(OPT) -g $(WARN) -pthread \
            -Iserver -I. -I$(BUILD)/gen
LDLIBS   += -pthread -lm

ifneq ($(SANITIZE),)
CFLAGS   += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
LDFLAGS  += -fsanitize=$(SANITIZE)
endif

# librdkafka is not Debian's 2.0.2 but the current release, built once by scripts/rdkafka.sh
# into .deps/ (README, "Two commands") and linked statically, so the binary, the tests, the benches
# and the image run the library they were built against. -isystem: rdkafka.h trips
# -Wignored-qualifiers. Its own dependencies (OpenSSL, SASL, zlib, zstd, lz4, curl) stay
# shared: rdkafka-static.pc names them; --static would add curl's private libraries too.
RDKAFKA_PREFIX ?= $(or $(KPLANE_DEPS),.deps)/librdkafka/current
# Written last by scripts/rdkafka.sh: everything compiled against the library depends on it
# (-MMD does not list -isystem headers), so a newer librdkafka rebuilds and relinks it all.
RDKAFKA_STAMP  := $(RDKAFKA_PREFIX)/.built
RDKAFKA_CFLAGS  = -isystem $(RDKAFKA_PREFIX)/include
# The archive by its path here, not the .pc's absolute prefix: a copied or moved .deps/ still links.
RDKAFKA_LIBS    = $(RDKAFKA_PREFIX)/lib/librdkafka.a $(filter-out -L% %librdkafka.a,\
                  $(shell PKG_CONFIG_PATH=$(RDKAFKA_PREFIX)/lib/pkgconfig pkg-config --libs rdkafka-static))

PKG_CFLAGS = $(RDKAFKA_CFLAGS) $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(RDKAFKA_LIBS) $(shell pkg-config --libs $(PKGS) 2>/dev/null)

SRC      := $(sort $(wildcard server/*.c server/*/*.c api/*.c db/*.c))
HDR      := $(sort $(wildcard server/*/*.h api/*.h db/*.h))
LIB_SRC  := $(filter-out server/main.c,$(SRC))
LIB_OBJ  := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRC)) $(BUILD)/obj/gen/assets.o
ASSETS   := $(sort $(wildcard web/*.html web/*.css web/*.js web/*.svg web/*.png)) api/openapi.json
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
BENCH_SRC:= $(sort $(wildcard bench/*.c))
BENCH_BIN:= $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))

.PHONY: all deps run test test-unit test-integration bench format format-check structure-check clean image image-test

all: $(BUILD)/kplane

# Installs whatever the build, the tests and the demo need and is missing (idempotent).
deps:
	@scripts/setup.sh

$(BUILD)/kplane: $(BUILD)/obj/server/main.o $(BUILD)/libkplane.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

$(BUILD)/libkplane.a: $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

# Built on first use (and by `make deps`); a no-op once .deps/ holds it.
$(RDKAFKA_STAMP):
	@scripts/rdkafka.sh

$(BUILD)/obj/%.o: %.c $(HDR) $(RDKAFKA_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/obj/gen/assets.o: $(BUILD)/gen/assets.c $(RDKAFKA_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -c -o $@ $<

# The web page and the OpenAPI document are compiled into the binary: nothing is read
# from disk at run time.
$(BUILD)/gen/assets.c: $(BUILD)/embed $(ASSETS)
	@mkdir -p $(dir $@)
	$(BUILD)/embed $(ASSETS) > $@.tmp && mv $@.tmp $@

$(BUILD)/embed: scripts/embed.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O1 -Wall -Wextra -Werror -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libkplane.a $(RDKAFKA_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libkplane.a \
		$(PKG_LIBS) -lcmocka $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libkplane.a $(RDKAFKA_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libkplane.a \
		$(PKG_LIBS) $(LDLIBS)

units: $(UNIT_BIN)
benches: $(BENCH_BIN)

# The demo: three embedded clusters, a group reading them, a steady stream of messages.
run: deps
	@$(MAKE) --no-print-directory all
	./$(BUILD)/kplane serve --demo

# Everything: unit tests, the binary over HTTP and Kafka, real Apache Kafka brokers,
# Flink/Kafka parity and the browser. KPLANE_TEST_REQUIRE=1 (CI) turns skips into failures.
test: deps
	@$(MAKE) --no-print-directory all units
	@BUILD=$(BUILD) scripts/test.sh

test-unit: all units
	@BUILD=$(BUILD) scripts/test.sh unit

test-integration: all
	@BUILD=$(BUILD) scripts/test.sh integration

bench: deps
	@$(MAKE) --no-print-directory all benches
	@BUILD=$(BUILD) scripts/bench.sh

# Every C file of ours, formatted by the committed .clang-format (Debian 12's clang-format 14:
# other major versions format a few constructs differently). `make test` runs the check.
FORMAT_SRC := $(SRC) $(HDR) $(UNIT_SRC) $(BENCH_SRC) scripts/embed.c

format:
	clang-format -i $(FORMAT_SRC)

format-check:
	@clang-format --dry-run --Werror $(FORMAT_SRC) && echo "format-check: $(words $(FORMAT_SRC)) files formatted"

# Includes point down the rooms, no header cycle, no function over 80 lines (docs/ARCHITECTURE.md).
structure-check:
	@python3 scripts/check-structure.py

clean:
	rm -rf build build-*

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# The container image (podman, no registry needed) and the proof of what it runs.
image:
	@scripts/image.sh

image-test: image
	@scripts/image-test.sh
