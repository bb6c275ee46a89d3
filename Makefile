# The two commands of the README:
#   make demo   sets up this machine, builds, and runs the built-in demo end to end
#   make test   sets up this machine, builds, and runs every test
# Both are safe to run again.

SWIFT ?= swift
DEMO_ARGS ?=

.PHONY: setup build release test demo package clean

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

clean:
	rm -rf .build
