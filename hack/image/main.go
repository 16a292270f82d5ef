// Command image builds headless-guard's container image without a Docker
// engine, from the static binaries `make release` (or `make image`) built,
// and pushes it when a registry is given.
//
//	image build -o dist/headless-guard-image.tar -version v0.1.0 -revision abc1234 \
//	    -platform linux/amd64=dist/headless-guard-linux-amd64 [-platform linux/arm64=...]
//	image push -archive dist/headless-guard-image.tar -ref registry.example/headless-guard:v0.1.0
//
// build writes an OCI image layout as one tar archive (an image index with a
// manifest per platform, the tag in `org.opencontainers.image.ref.name`) and,
// beside each binary, an SPDX 2.3 SBOM of the Go modules linked into it
// (<binary>.spdx.json). The same inputs and -epoch give the same bytes and so
// the same digest. It is a module of its own (hack/image/go.mod) so that
// go-containerregistry never enters the build list of the binary it packages.
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "build":
		err = runBuild(os.Args[2:])
	case "push":
		err = runPush(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: image build -o ARCHIVE -version V -revision C -platform OS/ARCH=BINARY... | image push -archive ARCHIVE -ref REGISTRY/REPO:TAG")
	os.Exit(2)
}

// platformFlags collects the repeated -platform OS/ARCH=BINARY.
type platformFlags []platformBinary

type platformBinary struct{ os, arch, path string }

func (p *platformFlags) String() string { return fmt.Sprint(*p) }

func (p *platformFlags) Set(v string) error {
	plat, path, ok := strings.Cut(v, "=")
	goos, goarch, ok2 := strings.Cut(plat, "/")
	if !ok || !ok2 || path == "" {
		return fmt.Errorf("%q: want OS/ARCH=BINARY", v)
	}
	*p = append(*p, platformBinary{goos, goarch, path})
	return nil
}

func runBuild(args []string) error {
	fs := flag.NewFlagSet("build", flag.ExitOnError)
	var opts buildOptions
	fs.Var((*platformFlags)(&opts.platforms), "platform", "OS/ARCH=BINARY, repeatable: a static binary for that platform")
	fs.StringVar(&opts.out, "o", "", "the OCI layout archive to write")
	fs.StringVar(&opts.repository, "repository", "ghcr.io/headless-guard/headless-guard", "the repository containerd names the image after on import")
	fs.StringVar(&opts.version, "version", "dev", "the image's version label and tag")
	fs.StringVar(&opts.revision, "revision", "", "the image's revision label (the commit)")
	fs.StringVar(&opts.caFile, "ca-file", "/etc/ssl/certs/ca-certificates.crt", "the CA certificates copied into the base layer")
	epoch := fs.String("epoch", os.Getenv("SOURCE_DATE_EPOCH"), "every timestamp in the image, in seconds since 1970 (default $SOURCE_DATE_EPOCH, else 0)")
	fs.BoolVar(&opts.sbom, "sbom", true, "write <binary>.spdx.json beside each binary")
	_ = fs.Parse(args)
	if opts.out == "" || len(opts.platforms) == 0 || fs.NArg() > 0 {
		usage()
	}
	if *epoch != "" {
		n, err := strconv.ParseInt(*epoch, 10, 64)
		if err != nil {
			return fmt.Errorf("-epoch %q: %v", *epoch, err)
		}
		opts.epoch = n
	}
	digest, err := build(opts)
	if err != nil {
		return err
	}
	fmt.Printf("%s %s\n", opts.out, digest)
	return nil
}

func runPush(args []string) error {
	fs := flag.NewFlagSet("push", flag.ExitOnError)
	archive := fs.String("archive", "", "an archive `image build` wrote")
	ref := fs.String("ref", "", "where to push it: REGISTRY/REPOSITORY:TAG")
	_ = fs.Parse(args)
	if *archive == "" || *ref == "" || fs.NArg() > 0 {
		usage()
	}
	pushed, err := push(*archive, *ref)
	if err != nil {
		return err
	}
	fmt.Println(pushed)
	return nil
}
