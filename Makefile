# rwkv-decode - build, test, fuzz, bench.
#   make            bin/rwkv-decode bin/rwkv-lm bin/rwkv-wer (CUDA kernels when nvcc is found; CUDA=0 to skip)
#   make check      what CI runs: make test, make check-asan, make fuzz-smoke (60 s in all)
#   make test       every cmocka test (tests/test_*.c), the quick loop while developing
#   make check-asan the unit tests under AddressSanitizer + UndefinedBehaviorSanitizer (CPU code)
#   make fuzz       libFuzzer targets (clang); make fuzz-smoke runs each over its corpus
#   make bench      every benchmark under tests/bench/
#   make deps       installs what a fresh Debian machine lacks

CC       ?= cc
BUILD    ?= build
BIN      ?= bin
OPT      ?= -O2 -march=x86-64-v2 -g
SAN      ?=
WFLAGS   := -std=c11 -Wall -Wextra -Wpedantic -Werror -Wshadow -Wno-unused-parameter -Wno-format-truncation
CPPFLAGS += -I. -D_GNU_SOURCE
CFLAGS   += $(OPT) $(WFLAGS) $(SAN) -pthread -MMD -MP
LDLIBS   += -lm -pthread -lz -llzma -lbz2
LDFLAGS  += $(SAN)

# CUDA: on when nvcc is found (on PATH, else $(CUDA_HOME)/bin/nvcc), unless
# CUDA=0 (the stub kernels/kernels_stub.c then answers every kernels.h call).
# Machine code for sm_80 (A100) and sm_90 (H100/H200) plus sm_90 PTX for newer
# chips (NVARCH). CUDA=1 needs nvcc but no GPU. cudart is linked statically, so binaries run
# where libcudart.so is absent and, without a GPU, report "no cuda device".
CUDA_HOME ?= /usr/local/cuda
NVCC ?= $(shell command -v nvcc 2>/dev/null || ls $(CUDA_HOME)/bin/nvcc 2>/dev/null)
ifeq ($(NVCC),)
CUDA ?= 0
else
CUDA ?= 1
endif
CU_SRC := $(wildcard kernels/*.cu)
ifeq ($(CUDA),1)
ifeq ($(NVCC),)
$(error CUDA=1 but no nvcc found (PATH or $(CUDA_HOME)/bin))
endif
ifneq ($(CU_SRC),)
CUDA_LIB  ?= $(patsubst %/bin/nvcc,%,$(NVCC))/lib64
CPPFLAGS  += -DRD_HAVE_CUDA
NVARCH    ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90
NVFLAGS   ?= -O3 -std=c++17 $(NVARCH) -Xcompiler -fPIC -I. -MMD -MP
LDLIBS    += -L$(CUDA_LIB) -lcudart_static -ldl -lrt -lstdc++
CU_OBJ    := $(patsubst %.cu,$(BUILD)/obj/%.cu.o,$(CU_SRC))
endif
endif

LIB_SRC  := $(wildcard common/*.c lexicon/*.c lmstate/*.c lmstate/*/*.c kernels/*.c decoder/*.c)
CLI_MAIN := cli/rwkv_decode.c cli/rwkv_lm.c cli/rwkv_wer.c
CLI_SRC  := $(filter-out $(CLI_MAIN),$(wildcard cli/*.c))
LIB_OBJ  := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRC)) $(CU_OBJ)
LIB      := $(BUILD)/librd.a
# The programs' own code (options, lists, output, WER, rwkv-lm's commands):
# linked into the programs and the tests of it, not into the library.
CLI_OBJ  := $(patsubst %.c,$(BUILD)/obj/%.o,$(CLI_SRC))
CLI_LIB  := $(BUILD)/libcli.a
CLI_TESTS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(shell grep -l '\#include "cli/' tests/test_*.c))
PROGS    := $(BIN)/rwkv-decode $(BIN)/rwkv-lm $(BIN)/rwkv-wer
TEST_SRC := $(wildcard tests/test_*.c)
TESTS    := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))
# The .cu kernels compiled for the CPU (kernels/cuda_cpu.h, a C++ compiler, no
# nvcc): build/tests/test_kernels_cpu runs tests/test_kernels.c against them in
# every build, so the kernel parity tests run in CI without a GPU. Not under
# the sanitizers (its threads are fibers that switch stacks).
CXX      ?= g++
CPU_CU_OBJ := $(patsubst %.cu,$(BUILD)/obj-cpu/%.o,$(wildcard kernels/*.cu))
CPU_CXXFLAGS := -std=c++17 -O2 -g -DRD_CUDA_CPU -DRD_HAVE_CUDA -I. -D_GNU_SOURCE -Wall -Wextra -Werror \
  -Wno-unused-parameter -Wno-unknown-pragmas -fno-strict-aliasing -U_FORTIFY_SOURCE -MMD -MP
ifeq ($(SAN),)
ifneq ($(CPU_CU_OBJ),)
TESTS    += $(BUILD)/tests/test_kernels_cpu
endif
endif
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ     := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))

.PHONY: all check test check-asan fuzz fuzz-smoke bench bench-cpu bench-rwkv bench-homophones bench-lm-bpc bench-lm-cost bench-batch bench-state bench-soak bench-listmem bench-arpa bench-scaleout bench-gpu bench-zh bench-hotwords bench-homophone-groups bench-parity bench-subword bench-threads-rss deps clean
all: $(PROGS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/obj/%.cu.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVFLAGS) -DRD_HAVE_CUDA -c $< -o $@

$(LIB): $(LIB_OBJ) Makefile
	@rm -f $@
	ar rcs $@ $(filter %.o,$^)

$(CLI_LIB): $(CLI_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN)/rwkv-decode: $(BUILD)/obj/cli/rwkv_decode.o $(CLI_LIB) $(LIB)
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)
$(BIN)/rwkv-lm: $(BUILD)/obj/cli/rwkv_lm.o $(CLI_LIB) $(LIB)
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)
$(BIN)/rwkv-wer: $(BUILD)/obj/cli/rwkv_wer.o $(CLI_LIB) $(LIB)
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(LIB) tests/testutil.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $< $(LIB) -o $@ -lcmocka $(LDLIBS) $(LDFLAGS)
$(CLI_TESTS): $(BUILD)/tests/%: tests/%.c $(CLI_LIB) $(LIB) tests/testutil.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $< $(CLI_LIB) $(LIB) -o $@ -lcmocka $(LDLIBS) $(LDFLAGS)

# test_cli's LD_PRELOAD shim (tests/fail_threads.c), plain flags: it is loaded
# into bin/rwkv-decode, the main build's, by every build's test_cli
$(BUILD)/tests/fail_threads.so: tests/fail_threads.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -fPIC -shared $< -o $@ -ldl
$(BUILD)/tests/test_cli: $(BUILD)/tests/fail_threads.so

$(BUILD)/obj-cpu/%.o: %.cu
	@mkdir -p $(dir $@)
	$(CXX) $(CPU_CXXFLAGS) -x c++ -c $< -o $@

$(BUILD)/tests/test_kernels_cpu: tests/test_kernels.c $(CPU_CU_OBJ) $(LIB) tests/testutil.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -DRD_HAVE_CUDA -DRD_CUDA_CPU $(CFLAGS) $< $(CPU_CU_OBJ) $(LIB) -o $@ -lcmocka $(LDLIBS) -lstdc++ $(LDFLAGS)

# Checks that no #include points back up the layers (tests/check_includes.sh),
# then runs every test binary from the project root (golden tests read ../shared/data,
# CLI tests run bin/*); prints each cmocka summary and fails if any test failed.
test: $(PROGS) $(TESTS)
	@tests/check_includes.sh
	@fail=0; for t in $(TESTS); do echo "== $$t"; $$t || fail=1; done; \
	if [ $$fail = 0 ]; then echo "make test: all test binaries passed ($(BUILD))"; else echo "make test: FAILURES ($(BUILD))"; exit 1; fi

# CI (.ci/run): the unit tests, again under ASan + UBSan, then every fuzz target
# over its committed corpus (FUZZ_TOTAL seconds in all).
check:
	$(MAKE) test
	$(MAKE) check-asan
	$(MAKE) fuzz-smoke
	@echo "make check: unit tests, sanitizer run and fuzz smoke passed"

check-asan:
	$(MAKE) BUILD=build-asan BIN=build-asan/bin CUDA=0 OPT="-O1 -g -fno-omit-frame-pointer" \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=all" CPPFLAGS="-I. -D_GNU_SOURCE -DRD_DEBUG" test

# Fuzz targets: the library is compiled once with clang's fuzzer instrumentation
# into $(BUILD)/fuzz/librd-fuzz.a, then each target links against it.
FUZZ_CC    ?= clang
FUZZ_FLAGS := -I. -D_GNU_SOURCE -DRD_FUZZ -DRD_DEBUG -O1 -g -std=c11 -fno-omit-frame-pointer
FUZZ_OBJ   := $(patsubst %.c,$(BUILD)/fuzz/obj/%.o,$(LIB_SRC) $(CLI_SRC))
$(BUILD)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link,address,undefined -MMD -MP -c $< -o $@
$(BUILD)/fuzz/librd-fuzz.a: $(FUZZ_OBJ)
	@rm -f $@
	ar rcs $@ $^
$(BUILD)/fuzz/%: tests/fuzz/%.c $(BUILD)/fuzz/librd-fuzz.a
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer,address,undefined $< $(BUILD)/fuzz/librd-fuzz.a -o $@ -lm -pthread -lz -llzma -lbz2
fuzz: $(FUZZ)

# Runs each fuzz target over its committed corpus, then mutates: FUZZ_TOTAL
# seconds shared by the targets (FUZZ_SECONDS each when given).
FUZZ_TOTAL   ?= 60
FUZZ_SECONDS ?= $(shell echo $$(( $(FUZZ_TOTAL) / $(words $(FUZZ_SRC)) )))
fuzz-smoke: $(FUZZ)
	@for f in $(FUZZ); do n=$$(basename $$f); mkdir -p $(BUILD)/fuzz-work/$$n; \
	  echo "== $$n ($(FUZZ_SECONDS)s over tests/fuzz/corpus/$$n)"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=$(BUILD)/fuzz-work/$$n- \
	      $(BUILD)/fuzz-work/$$n tests/fuzz/corpus/$$n > $(BUILD)/fuzz-work/$$n.log 2>&1 \
	    || { tail -40 $(BUILD)/fuzz-work/$$n.log; echo "fuzz-smoke: $$n FAILED"; exit 1; }; \
	  grep -E '^(Done|stat::number_of_executed_units)' $(BUILD)/fuzz-work/$$n.log; done; \
	echo "fuzz-smoke: every target ran without a crash"

bench: bench-cpu bench-rwkv bench-homophones bench-lm-bpc bench-lm-cost bench-batch bench-state bench-soak bench-listmem bench-arpa bench-scaleout bench-zh bench-hotwords bench-threads-rss
bench-scaleout: $(PROGS)
	tests/bench/bench_scaleout.sh
bench-cpu: $(PROGS)
	tests/bench/bench_cpu.sh
bench-rwkv: $(PROGS)
	tests/bench/bench_rwkv.sh
bench-zh: $(PROGS)
	tests/bench/bench_zh.sh
bench-hotwords: $(PROGS) bench-zh
	tests/bench/bench_hotwords.sh
bench-homophones: $(PROGS)
	tests/bench/bench_homophones.sh
bench-lm-bpc: $(PROGS)
	tests/bench/bench_lm_bpc.sh
bench-lm-cost: $(PROGS)
	tests/bench/bench_lm_cost.sh
bench-batch: $(PROGS)
	tests/bench/bench_batch.sh
bench-state: $(PROGS)
	tests/bench/bench_state.sh
bench-soak: $(PROGS)
	RWKV_DECODE=$(BIN)/rwkv-decode tests/bench/bench_soak.sh
bench-listmem: $(PROGS)
	RWKV_DECODE=$(BIN)/rwkv-decode tests/bench/bench_list_memory.sh
bench-homophone-groups: $(PROGS)
	tests/bench/bench_homophone_groups.sh
bench-parity: $(PROGS)
	tests/bench/bench_parity.sh
bench-threads-rss: $(PROGS)
	tests/bench/bench_threads_rss.sh
bench-arpa: $(PROGS)
	tests/bench/bench_arpa.sh
bench-subword: $(PROGS)
	tests/bench/bench_subword.sh
# The GPU step benchmark; prints "no CUDA device: skipped" without a GPU.
bench-gpu: $(LIB)
	@mkdir -p $(BUILD)/bench
	$(CC) $(CPPFLAGS) $(CFLAGS) tests/bench/bench_gpu.c $(LIB) -o $(BUILD)/bench/bench_gpu $(LDLIBS)
	$(BUILD)/bench/bench_gpu

deps:
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq build-essential libcmocka-dev zlib1g-dev liblzma-dev libbz2-dev clang python3 python3-numpy fortunes fortunes-zh

clean:
	rm -rf build build-asan bin

-include $(shell find $(BUILD) -name '*.d' -not -path '*/fuzz/*' 2>/dev/null)
-include $(shell find $(BUILD)/fuzz -name '*.d' 2>/dev/null)
