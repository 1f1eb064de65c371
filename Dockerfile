# syntax=docker/dockerfile:1
# Build: go-sqlite3 needs cgo, so the binary is built on Debian and runs on
# Debian slim with the same C library. GO_VERSION is go.mod's.
ARG GO_VERSION=1.26.8
FROM golang:${GO_VERSION}-bookworm AS build
ARG VERSION=dev
ARG REVISION=
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -trimpath \
      -ldflags "-s -w -X main.buildVersion=${VERSION} -X main.buildRevision=${REVISION}" \
      -o /out/newsbrief ./cmd/newsbrief

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data newsbrief \
 && mkdir -p /data/articles /data/outbox && chown -R newsbrief /data
COPY --from=build /out/newsbrief /usr/local/bin/newsbrief
USER newsbrief
WORKDIR /data
VOLUME ["/data"]
ENV NEWSBRIEF_DB=/data/newsbrief.db \
    NEWSBRIEF_ARTICLES_DIR=/data/articles \
    NEWSBRIEF_OUTBOX_DIR=/data/outbox \
    NEWSBRIEF_HTTP_ADDR=:8080
EXPOSE 8080
# asks the local serve's /readyz; cheap (it opens no database)
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s CMD ["newsbrief", "health"]
# serve finishes the messages in flight within NEWSBRIEF_SHUTDOWN_GRACE (30s)
STOPSIGNAL SIGTERM
ENTRYPOINT ["newsbrief"]
CMD ["serve"]
