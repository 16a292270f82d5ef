# syntax=docker/dockerfile:1
# headless-guard: `make docker-build` (IMG=..., VERSION=...). The build
# stage's `go build` is the one test/deploy/deploy_test.go runs to check that it
# makes a static binary.

FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG TARGETOS=linux
ARG TARGETARCH=amd64
ARG VERSION=dev
ARG COMMIT=
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# Static (CGO_ENABLED=0): the runtime image has no libc.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath \
      -ldflags "$(sh hack/ldflags.sh "${VERSION}" "${COMMIT}")" \
      -o /out/headless-guard ./cmd/headless-guard

# `make image` builds the same image without a Docker engine (hack/image,
# docs/deploy.md); TestImage holds the two to the same user, entrypoint,
# command, working directory, binary path and labels.
FROM gcr.io/distroless/static:nonroot
ARG VERSION=dev
ARG COMMIT=
LABEL org.opencontainers.image.title="headless-guard" \
      org.opencontainers.image.description="Admission webhook and CI checker: every StatefulSet wired to a correct headless Service" \
      org.opencontainers.image.source="https://github.com/headless-guard/headless-guard" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}"
COPY --from=build /out/headless-guard /headless-guard
USER 65532:65532
WORKDIR /home/nonroot
ENTRYPOINT ["/headless-guard"]
CMD ["serve"]
