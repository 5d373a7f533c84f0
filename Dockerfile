# clubline's image: the binary built by deploy/build.sh (static, version
# and commit written in), on Debian 12 with espeak-ng.
#
#   docker build --build-arg VERSION=1.4.0 --build-arg COMMIT=$(git rev-parse HEAD) -t clubline .
#
# The config is read from /etc/clubline/clubline.yaml (mount your own
# folder there), the data goes to /var/lib/clubline (a volume).
# docker-compose.yml builds and runs it; docs/install.md says how.

ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=""
ARG COMMIT=""
# The same step as a native build (deploy/deploy_test.go runs it): static,
# CGO_ENABLED=0, -ldflags with the version.
RUN OUT=/out/clubline VERSION="$VERSION" COMMIT="$COMMIT" ./deploy/build.sh

# Debian rather than a distroless or scratch image, for espeak-ng: it is
# what makes the greeting say the club's own name (without it callers hear
# the built-in club's). It adds about 40 MB (its voices and the audio
# libraries it links), for an image of about 150 MB. The same Debian
# release as CI, so callers hear the voice the tests heard. ca-certificates:
# the mail server's, the provider's (TLS) and rediss:// certificates.
FROM debian:bookworm-slim
RUN apt-get update \
	&& apt-get install -y --no-install-recommends espeak-ng ca-certificates tzdata \
	&& rm -rf /var/lib/apt/lists/* \
	&& groupadd --system --gid 10001 clubline \
	&& useradd --system --uid 10001 --gid clubline --home-dir /var/lib/clubline --shell /usr/sbin/nologin clubline \
	&& install -d -o clubline -g clubline -m 0750 /var/lib/clubline \
	&& install -d -m 0755 /etc/clubline
COPY --from=build /out/clubline /usr/local/bin/clubline
COPY deploy/clubline/clubline.yaml /etc/clubline/clubline.yaml
USER clubline
WORKDIR /var/lib/clubline
# The config is mounted read-only: the last copy that loaded without
# error is kept in the data volume, so a restart with a broken file still
# answers the line.
ENV CLUBLINE_STATE_DIR=/var/lib/clubline
VOLUME /var/lib/clubline
# SIP, the RTP range of sip.rtp_ports, the web page and /metrics.
EXPOSE 5060/udp 5060/tcp 10000-10999/udp 9468/tcp
STOPSIGNAL SIGTERM
ENTRYPOINT ["clubline"]
CMD ["serve", "--config", "/etc/clubline/clubline.yaml"]
