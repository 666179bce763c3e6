# qwick: thin wrapper over CMake. `make demo` sets up and runs the main job; `make test` runs the suite.
BUILD ?= build
JOBS ?= $(shell nproc)

.PHONY: all deps test asan fuzz demo bench clean

all:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release > /dev/null
	@cmake --build $(BUILD) -j $(JOBS)

deps:
	@bash scripts/install-deps.sh

test: all
	@ctest --test-dir $(BUILD) --output-on-failure -j 2

# The suite again under AddressSanitizer and UBSan (what CI runs second).
asan:
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DQWICK_SANITIZE=ON > /dev/null
	@cmake --build build-asan -j $(JOBS)
	@ASAN_OPTIONS=detect_leaks=1 ctest --test-dir build-asan --output-on-failure -j 2

# libFuzzer targets, each run for FUZZ_SECONDS over its seed corpus.
FUZZ_SECONDS ?= 30
fuzz:
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DQWICK_FUZZ=ON -DQWICK_SANITIZE=ON > /dev/null
	@cmake --build build-fuzz -j $(JOBS)
	@bash scripts/run-fuzzers.sh build-fuzz $(FUZZ_SECONDS)

demo: deps all
	@bash scripts/demo.sh $(BUILD)

bench: all
	@bash bench/bench_engine.sh

clean:
	rm -rf build build-asan build-fuzz
