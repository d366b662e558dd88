# Entry points. `make run` and `make test` are the two commands of the README.
# Long fuzz, soak and benchmark runs have their own targets.
BUILD      ?= build
BUILD_TYPE ?= Release
PORT       ?= 8080
HOME_DIR   ?= $(CURDIR)/var
JOBS       ?= $(shell nproc)
CMAKE_FLAGS = -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)
ifeq ($(CI),true)
CMAKE_FLAGS += -DENDPOINTD_WERROR=ON
endif

.PHONY: all deps build run test test-unit asan test-asan test-fuzz bench fuzz soak clean format

all: build

deps:
	./scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

run: build
	./scripts/run.sh $(BUILD)/endpointd $(HOME_DIR) $(PORT)

# Full suite: every ctest of the normal build, then the sanitizer and fuzz
# passes below (issue 10).
test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS) --timeout 600
	$(MAKE) --no-print-directory test-asan test-fuzz

test-unit: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS) -L unit

# ASan+UBSan build (leaks fail): unit tests, fuzz regression replays and the
# e2e tests labelled `asan` (EP_ASAN_E2E in CMakeLists.txt).
asan test-asan: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Asan $(filter -DENDPOINTD_WERROR=ON,$(CMAKE_FLAGS)) >/dev/null
	cmake --build build-asan -j$(JOBS)
	cd build-asan && ctest --output-on-failure -j$(JOBS) --timeout 600 -L 'unit|regress|asan'

# libFuzzer drivers (tests/fuzz/, clang) in build-fuzz: a short fixed-time run
# per driver as ctests (FUZZ_SECONDS each), and `make fuzz` for longer runs.
FUZZ_SECONDS ?= 15
test-fuzz: deps
	CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DENDPOINTD_FUZZ=ON \
	  -DENDPOINTD_FUZZ_SECONDS=$(FUZZ_SECONDS) >/dev/null
	cmake --build build-fuzz -j$(JOBS) --target $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
	cd build-fuzz && ctest --output-on-failure -j$(JOBS) -L fuzz

fuzz: deps
	./scripts/fuzz.sh $(or $(SECONDS),60)

bench: build
	./bench/run.sh $(BUILD)

# Load soak (bench/soak.sh): 1,000 connections for DURATION seconds (default
# 300) against API and gateway; fails if the daemon dies or its RSS grows.
soak: build
	./bench/soak.sh $(BUILD)/endpointd

clean:
	rm -rf $(BUILD) build-asan build-fuzz

format:
	clang-format -i $$(git ls-files '*.c' '*.h')
