# Thin wrapper over meson/ninja; the README's commands.
.PHONY: all build deps demo check check-sanitized bench fuzz lint format clean

BUILD ?= build
SRC_FILES = $(shell git ls-files -co --exclude-standard '*.c' '*.h' 2>/dev/null)

all: build

deps:
	@scripts/install-deps

build: deps
	@[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD)
	@ninja -C $(BUILD)

demo: build
	@scripts/demo

check: deps
	@scripts/check

check-sanitized: deps
	@scripts/check-sanitized

bench: build
	@bench/run

fuzz: deps
	@scripts/fuzz

lint:
	@echo "clang-format: $(words $(SRC_FILES)) files"
	@clang-format --dry-run -Werror $(SRC_FILES)
	@cppcheck --quiet --error-exitcode=1 --inline-suppr --std=c11 \
	    --enable=warning,portability --suppress=missingIncludeSystem \
	    --suppress=unknownMacro -I src/common src tests/fuzz

format:
	@clang-format -i $(SRC_FILES)

clean:
	rm -rf build build-asan build-fuzz
