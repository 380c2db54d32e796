# streamlearn — the two commands on a fresh Debian 12 machine:
#
#   make run    install what is missing (as root), build, run the demo
#   make test   install what is missing (as root), sanitizer build, all tests
#
# Everything else here is a convenience around CMake presets (CMakePresets.json).

SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help deps release dev run test fuzz bench docs format lint clean

help:
	@echo "make run    build (release) and run the demo on the embedded default"
	@echo "make test   build with ASan/UBSan and run every test"
	@echo "make fuzz   build the libFuzzer targets (clang) and fuzz each for 60 s"
	@echo "make bench  run the benchmarks (bench/README.md)"
	@echo "make docs   regenerate docs/CONFIG.md from the config schema"
	@echo "make format apply .clang-format to the C sources"
	@echo "make lint   cppcheck over the project's own code"

deps:
	@scripts/deps.sh

release: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release

dev: deps
	@cmake --preset dev >/dev/null
	@cmake --build --preset dev

run: release
	@scripts/demo.sh build/release/cli/streamlearn

test: dev
	@scripts/test.sh

fuzz: deps
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz
	@scripts/fuzz.sh build/fuzz 60

bench: release
	@bench/run.sh

docs: release
	@scripts/gen-config-doc.sh build/release/cli/streamlearn > docs/CONFIG.md

format:
	@git ls-files '*.c' '*.h' | xargs clang-format -i

lint:
	@scripts/lint.sh

clean:
	rm -rf build
