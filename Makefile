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

.PHONY: all deps build run test test-unit asan bench fuzz clean format

all: build

deps:
	./scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

run: build
	./scripts/run.sh $(BUILD)/endpointd $(HOME_DIR) $(PORT)

test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS) --timeout 600

test-unit: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS) -L unit

asan: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Asan >/dev/null
	cmake --build build-asan -j$(JOBS)
	cd build-asan && ctest --output-on-failure -j$(JOBS) -L unit

bench: build
	./bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD) build-asan

format:
	clang-format -i $$(git ls-files '*.c' '*.h')
