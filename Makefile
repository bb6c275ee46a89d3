# The two commands of the README:
#   make demo   sets up this machine, builds, and runs the built-in demo end to end
#   make test   sets up this machine, builds, and runs every test
# Both are safe to run again.

SWIFT ?= swift
DEMO_ARGS ?=

.PHONY: setup build release test demo package gpu-bundle clean

setup:
	@scripts/setup.sh

build: setup
	$(SWIFT) build

release: setup
	$(SWIFT) build -c release

test: setup
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

demo: release
	.build/release/milnce demo $(DEMO_ARGS)

# dist/milnce: the binary and the libraries it needs besides PyTorch's (see scripts/package.sh).
package: setup
	scripts/package.sh

# .gpu/: the package and the golden fixture packed for `bench/gpu.sh --bundle .gpu OUT_DIR`.
gpu-bundle: setup
	scripts/gpu-bundle.sh

clean:
	rm -rf .build
