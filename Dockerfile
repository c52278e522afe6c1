# syntax=docker/dockerfile:1
#
# The otos image: the static binary that scripts/release.sh builds, on
# distroless (no shell, no package manager; CA certificates and time zones
# for webhooks), as an unprivileged user, with its data in a volume.
#
#   docker build -t otos --build-arg VERSION=$(git describe --tags --always) --build-arg COMMIT=$(git rev-parse HEAD) .
#   docker run -d -p 8080:8080 -p 1883:1883 -v otos-data:/var/lib/otos otos

FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
ARG TARGETPLATFORM
# The release build itself, for the image's platform only.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
	DIST=/out TARGETS="$TARGETPLATFORM" COMMIT="$COMMIT" scripts/release.sh "$VERSION" \
	&& mkdir -p /rootfs/var/lib/otos \
	&& mv /out/otos-healthcheck-* /rootfs/otos-healthcheck \
	&& mv /out/otos-* /rootfs/otos

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /rootfs/otos /rootfs/otos-healthcheck /
# The data directory belongs to the runtime user, so that a new volume
# mounted on it starts with that owner.
COPY --from=build --chown=65532:65532 /rootfs/var/lib/otos /var/lib/otos
USER 65532:65532
ENV OTOS_DATA=/var/lib/otos
VOLUME ["/var/lib/otos"]
EXPOSE 8080 1883
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 CMD ["/otos-healthcheck"]
ENTRYPOINT ["/otos"]
CMD ["serve"]
