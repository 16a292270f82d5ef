// Module nodeimages builds the test node's pause and toolbox images
// (hack/tools.mk: bin/node-images). A module of its own, as hack/image is:
// go-containerregistry stays out of every other build list.
module github.com/headless-guard/headless-guard/hack/tools/nodeimages

go 1.26.0

require github.com/google/go-containerregistry v0.22.1

require (
	github.com/klauspost/compress v1.19.2 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/opencontainers/image-spec v1.1.1 // indirect
	golang.org/x/sync v0.22.0 // indirect
)
