# The README's two commands: `make run` (the main job on the default kernel)
# and `make test` (the unit tier, then the end-to-end tier in real QEMU).
export PATH := $(PATH):/usr/local/go/bin

.PHONY: deps run test unit e2e

deps:
	./scripts/deps

run: deps
	go run ./cmd/klptest run $(ARGS)

unit: deps
	gofmt -l . | (! grep .) || (echo "gofmt: files above need formatting" >&2; exit 1)
	go vet ./...
	go vet -tags e2e ./...
	go tool actionlint
	GOARCH=arm64 go build -o /dev/null ./cmd/klptest-agent
	go test ./...

# Boots Debian 6.12 and 6.1 amd64 kernels under QEMU (TCG here) and runs the
# whole suite on both (in halves, two at a time), the demos, the stall forensics (with a vmcore) and the
# shell through a pty; Debian 7.2 through its gcc-16 toolchain root; builds
# linux-source-7.2 for arm64, runs the suite on it, decodes a splat and
# bisects a planted bug; renders HTML reports in headless Chromium. Fetches
# and builds into the cache first time.
e2e: deps
	go test -tags e2e -p 1 -count=1 -v -timeout 80m -run E2E ./kernels/ ./report/ ./cmd/klptest/

test: unit e2e
