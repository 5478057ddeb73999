# coredns-fed image: a static binary on distroless, running as non-root.
#   docker build -t REGISTRY/coredns-fed:TAG .
# Deploy it with deploy/ (docs/operator-guide.md).

FROM golang:1.26 AS build
# setcap gives the binary cap_net_bind_service, so a non-root process can bind
# port 53; the pod's "add: [NET_BIND_SERVICE]" only allows it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcap2-bin \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Modules first, so source edits reuse the download layer.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /coredns-fed ./cmd/coredns-fed \
 && setcap cap_net_bind_service=+ep /coredns-fed

# static-debian12 has CA certificates (member API servers with public CAs)
# and no shell or package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /coredns-fed /coredns-fed
# nonroot:nonroot; numeric so the kubelet's runAsNonRoot check can verify it.
USER 65532:65532
EXPOSE 53/udp 53/tcp 9153/tcp
ENTRYPOINT ["/coredns-fed", "-conf", "/etc/coredns/Corefile"]
