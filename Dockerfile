# syntax=docker/dockerfile:1
# Build: go-sqlite3 needs cgo, so the binary is built on Debian and runs on
# Debian slim with the same C library.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -trimpath -ldflags "-s -w" -o /out/newsbrief ./cmd/newsbrief

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
    NEWSBRIEF_OUTBOX_DIR=/data/outbox
ENTRYPOINT ["newsbrief"]
CMD ["run"]
