# The README's two commands: `make run` and `make test`. CMake + Ninja do the work.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
FUZZ_SECONDS ?= 60

.PHONY: all build run test test-asan test-tsan tidy bench fuzz clean format deps

all: build

deps:
	@scripts/deps.sh build

$(BUILD)/build.ninja:
	@scripts/deps.sh build
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: $(BUILD)/build.ninja
	@scripts/deps.sh build
	cmake --build $(BUILD) -j $(JOBS)

run: build
	$(BUILD)/bin/weft files --root examples/site

# Every package the tests need is checked before the build, so that one
# printed command covers them all: checked after it, a user without root
# met a second list after a full build.
test:
	@scripts/deps.sh test
	@$(MAKE) --no-print-directory build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 300

# The unit tests run in one process, in a random order (unit.shuffled): one
# process each, as `make test` runs them, cost twice the time under ASan.
test-asan:
	@scripts/deps.sh test
	cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DWEFT_SANITIZE=address,undefined -DWEFT_BUILD_BENCH=OFF
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		ctest --output-on-failure -j $(JOBS) --timeout 600 -LE '^(bench|unit)$$'

# ThreadSanitizer over the tests labelled tsan: the ones where more than one
# thread touches weft (post() from other threads, loop groups, servers run
# with --threads 2). TSan cannot share a process with ASan, hence a third tree.
test-tsan:
	@scripts/deps.sh test
	cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DWEFT_SANITIZE=thread -DWEFT_BUILD_BENCH=OFF
	cmake --build build-tsan -j $(JOBS) --target weft_unit_tests weft_cli
	cd build-tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
		ctest --output-on-failure -j $(JOBS) --timeout 600 -L tsan

# clang-tidy with the checked-in .clang-tidy over src/ and apps/, warnings as
# errors. It needs only compile_commands.json, so configuring is enough.
tidy:
	@scripts/deps.sh tidy
	cmake -S . -B build-tidy -G Ninja -DCMAKE_BUILD_TYPE=Debug -DWEFT_BUILD_BENCH=OFF >/dev/null
	scripts/tidy.sh build-tidy $(JOBS)

bench: build
	@scripts/deps.sh bench
	BUILD_DIR=$(BUILD) bench/run.sh

# libFuzzer targets (fuzz/README.md): each runs FUZZ_SECONDS, two at a time.
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) JOBS=$(JOBS) scripts/fuzz.sh

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')

clean:
	rm -rf $(BUILD) build-asan build-tsan build-tidy build-fuzz
