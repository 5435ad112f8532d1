# sparkshim — build, test, install.  `make help` lists the targets.

PREFIX   ?= /usr/local
DESTDIR  ?=
BUILD    ?= build
PYTHON   ?= /usr/bin/python3
# JDK for jni.h at build time; at run time libjvm is found from JAVA_HOME/PATH.
JDK_HOME ?= $(shell j=$$(readlink -f "$$(command -v javac)" 2>/dev/null) && dirname "$$(dirname "$$j")")

# V=1 shows the full compiler command lines.
Q        := $(if $(V),,@)
VERSION  := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
CC       ?= gcc
CFLAGS   ?= -O2 -g
WARN     := -std=c11 -Wall -Wextra -Werror
CPPFLAGS += -D_GNU_SOURCE -DTHREADED -DSPARKSHIM_VERSION='"$(VERSION)"' \
            -I. -I$(BUILD)/proto -I$(JDK_HOME)/include -I$(JDK_HOME)/include/linux
LDLIBS   += -lgrpc -lgpr -lprotobuf-c -lsystemd -lzookeeper_mt -lpthread -ldl -lm
PYTEST_ARGS ?= tests/integration
# Every sanitizer finding is fatal: UBSan only prints unless told not to recover.
SAN      := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
SAN_ENV  := ASAN_OPTIONS=halt_on_error=1:abort_on_error=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

PROTOS    := $(wildcard proto/*.proto)
PROTO_C   := $(patsubst proto/%.proto,$(BUILD)/proto/%.pb-c.c,$(PROTOS))
PROTO_H   := $(PROTO_C:.c=.h)
SRCS      := $(wildcard base/*.c jni/*.c shim/registry/*.c shim/ctl/*.c launcher/*.c)
MAIN_SRC  := launcher/main.c
LIB_SRCS  := $(filter-out $(MAIN_SRC),$(SRCS))
LIB_OBJS  := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRCS)) $(PROTO_C:.c=.o)
MAIN_OBJ  := $(BUILD)/obj/launcher/main.o
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
STANDIN   := $(BUILD)/spark-home
STANDIN_SRCS := $(shell find tests/standin -type f 2>/dev/null)

.PHONY: all deps check-layers test unit integration standin install install-standin run bench asan valgrind fuzz fuzz-smoke clean help
.DELETE_ON_ERROR:
.SECONDARY:

all: $(BUILD)/sparkshim

help:
	@echo "make deps        Debian packages + real Spark 4.x/3.5 and the PySpark client in .venv* (idempotent)"
	@echo "make run         start an engine on the real Spark 4.x from make deps (or SPARK_HOME)"
	@echo "make client      run one query with the real PySpark client (URL=sc://host:port)"
	@echo "make             build $(BUILD)/sparkshim"
	@echo "make test        layer check + unit tests (cmocka) + integration tests (pytest, real JVM/ZooKeeper)"
	@echo "make check-layers  fail on an #include from a higher layer (base < jni < shim/registry < shim/ctl < launcher)"
	@echo "make standin     build the stand-in Spark home in $(STANDIN)"
	@echo "make asan        unit tests under AddressSanitizer/UBSan"
	@echo "make valgrind    unit tests under valgrind"
	@echo "make fuzz        libFuzzer runs of the control request decoders (FUZZ_SECONDS=60 each)"
	@echo "make bench       benchmarks; figures go to $(BUILD)/bench/results.txt"
	@echo "make install     install into \$$(DESTDIR)\$$(PREFIX) (install-standin: the stand-in Spark home too)"

deps:
	scripts/install-deps.sh
	scripts/install-spark.sh

$(BUILD)/proto/%.pb-c.c $(BUILD)/proto/%.pb-c.h: proto/%.proto
	@mkdir -p $(BUILD)/proto
	protoc-c --proto_path=proto --c_out=$(BUILD)/proto $<

$(BUILD)/proto/%.pb-c.o: $(BUILD)/proto/%.pb-c.c
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -c -o $@ $<

$(BUILD)/obj/%.o: %.c $(PROTO_H)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/sparkshim: $(MAIN_OBJ) $(LIB_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Unit tests also rebuild when a shared test header changes.
$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJS) $(wildcard tests/unit/*.h)
	@mkdir -p $(dir $@)
	@echo "  CCLD    $@"
	$(Q)$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) $(LDFLAGS) -o $@ $(filter-out %.h,$^) $(LDLIBS) -lcmocka

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $(VALGRIND) $$t; done

standin: $(STANDIN)/.built

$(STANDIN)/.built: $(STANDIN_SRCS)
	tests/standin/build.sh $(STANDIN)
	@touch $@

integration: $(BUILD)/sparkshim standin tools
	SPARKSHIM_BIN=$(abspath $(BUILD)/sparkshim) SPARKSHIM_STANDIN=$(abspath $(STANDIN)) \
	SPARKSHIM_TOOLS=$(abspath $(BUILD)/tools) SPARKSHIM_NO_SKIPS=1 \
	  $(PYTHON) -m pytest -q -rs -p no:cacheprovider $(PYTEST_ARGS)

# CI's bounded fuzz smoke run (make fuzz runs longer).
FUZZ_SMOKE_SECONDS ?= 10
fuzz-smoke:
	$(MAKE) fuzz FUZZ_SECONDS=$(FUZZ_SMOKE_SECONDS)

# Include directions between the source layers (base < jni < shim/registry
# < shim/ctl < launcher); make test runs it first.
check-layers:
	scripts/check-layers.sh

test: check-layers
	$(MAKE) all unit integration fuzz-smoke

asan:
	$(SAN_ENV) $(MAKE) BUILD=build-asan CFLAGS="-O1 -g $(SAN)" LDFLAGS="$(SAN)" unit

valgrind:
	$(MAKE) VALGRIND="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --suppressions=tests/valgrind.supp" unit

# libFuzzer harnesses for the control server's request decoders (clang).
# The services are compiled straight into each harness, instrumented.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_FLAGS   := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_LIB     := shim/ctl/health_service.c shim/ctl/control_service.c shim/ctl/ctl_reply.c shim/ctl/event_log.c \
                shim/ctl/ctl_addr.c base/lifecycle.c base/engine_info.c base/events.c \
                base/log.c base/clock.c tests/fuzz/stubs.c
FUZZ_BINS    := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))

fuzz: $(FUZZ_BINS)
	@set -e; for f in $(FUZZ_BINS); do n=$$(basename $$f); \
	  mkdir -p $(BUILD)/fuzz/corpus-$$n; echo "== $$n ($(FUZZ_SECONDS) s)"; \
	  $(SAN_ENV) $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -artifact_prefix=$(BUILD)/fuzz/ \
	    $(BUILD)/fuzz/corpus-$$n tests/fuzz/seeds/$$n; done

$(BUILD)/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB) $(PROTO_C) $(PROTO_H) Makefile
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(WARN) $(FUZZ_FLAGS) -o $@ $< $(FUZZ_LIB) $(PROTO_C) -lprotobuf-c -lpthread

bench: $(BUILD)/sparkshim standin
	BUILD=$(BUILD) bench/run.sh

install: $(BUILD)/sparkshim
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/libexec/sparkshim \
	  $(DESTDIR)$(PREFIX)/share/doc/sparkshim
	install -m 0755 $(BUILD)/sparkshim $(DESTDIR)$(PREFIX)/bin/sparkshim
	install -m 0755 scripts/spark-submit-wrapper.sh $(DESTDIR)$(PREFIX)/libexec/sparkshim/spark-submit-wrapper.sh
	install -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/sparkshim/README.md
	for d in docs/*.md; do [ -f "$$d" ] && install -m 0644 "$$d" $(DESTDIR)$(PREFIX)/share/doc/sparkshim/; done; true
	install -m 0644 scripts/systemd/sparkshim.env.example $(DESTDIR)$(PREFIX)/share/doc/sparkshim/
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system
	sed 's|@PREFIX@|$(PREFIX)|g' scripts/systemd/sparkshim@.service.in > $(BUILD)/sparkshim@.service
	install -m 0644 $(BUILD)/sparkshim@.service $(DESTDIR)$(PREFIX)/lib/systemd/system/sparkshim@.service

# The stand-in Spark home, for trying sparkshim out without a real Spark
# (the binary finds it in PREFIX/share/sparkshim/spark-home).
install-standin: standin
	install -d $(DESTDIR)$(PREFIX)/share/sparkshim
	rm -rf $(DESTDIR)$(PREFIX)/share/sparkshim/spark-home
	cp -a $(STANDIN) $(DESTDIR)$(PREFIX)/share/sparkshim/spark-home

clean:
	rm -rf build build-asan

include tests/tools/tools.mk

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# Start an engine the way a newcomer would: the real Spark 4.x that
# `make deps` installed (or SPARK_HOME), connect port 15002 on loopback.
# Extra spark-submit args: RUN_ARGS.
RUN_ARGS ?=
URL ?= sc://127.0.0.1:15002
.PHONY: run client
run: $(BUILD)/sparkshim
	scripts/run-engine.sh $(BUILD)/sparkshim $(RUN_ARGS)

client:
	scripts/try-client.sh $(URL)
